"""Streaming aggregates over many images: per-class mean/variance and top-k per channel.

Nothing here holds all samples: statistics are merged batch by batch (Chan et al.'s parallel
form of Welford's update, float64 accumulators), so a pass over a store reads a block of rows
at a time, and accumulators from several workers merge into the same numbers.

Stored in ``/aggregates/<kind>/<layer>`` (``kind`` is ``activations`` or ``gradients``); see
docs/format.md, "Datasets at scale".
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from volviz.errors import StoreError
from volviz.store.edit import open_for_update, replace_group
from volviz.store.reader import Store
from volviz.store.schema import check, members, stamp

ALL = "*"  # the label under which statistics over every image are stored
KINDS = ("activations", "gradients")
Progress = Callable[[int, int], None]


@dataclass
class ClassStats:
    """Per-label count, mean and sum of squared deviations (M2) of arrays of one shape.

    Attributes
    ----------
    count : dict of str to int
    mean, m2 : dict of str to ndarray of shape ``shape``, float64
    """

    shape: tuple[int, ...]
    count: dict[str, int] = field(default_factory=dict)
    mean: dict[str, np.ndarray] = field(default_factory=dict)
    m2: dict[str, np.ndarray] = field(default_factory=dict)

    def update(self, values: np.ndarray, labels: Sequence[str]) -> None:
        """Add a batch: ``values`` of shape (B, *shape), one label per row."""
        values = np.asarray(values)
        if values.shape[1:] != tuple(self.shape) or len(values) != len(labels):
            msg = f"values of shape {values.shape} do not fit {len(labels)} x {self.shape}"
            raise StoreError(msg)
        names = np.asarray(labels, dtype=object)
        for label in dict.fromkeys(labels):
            rows = values[names == label].astype(np.float64)
            mean = rows.mean(axis=0)
            self._merge(str(label), len(rows), mean, ((rows - mean) ** 2).sum(axis=0))

    def merge(self, other: ClassStats) -> ClassStats:
        """Fold ``other``'s images in (Chan's pairwise update); returns self."""
        for label, n in other.count.items():
            self._merge(label, n, other.mean[label], other.m2[label])
        return self

    def _merge(self, label: str, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        n_a = self.count.get(label, 0)
        if n_a == 0:
            self.count[label] = n_b
            self.mean[label] = np.array(mean_b, dtype=np.float64)
            self.m2[label] = np.array(m2_b, dtype=np.float64)
            return
        n = n_a + n_b
        delta = mean_b - self.mean[label]
        self.mean[label] += delta * (n_b / n)
        self.m2[label] += m2_b + delta**2 * (n_a * n_b / n)
        self.count[label] = n

    def total(self) -> ClassStats:
        """Statistics over every image, whatever its label (labels merged in sorted order)."""
        out = ClassStats(self.shape)
        for label in sorted(self.count):
            out._merge(ALL, self.count[label], self.mean[label], self.m2[label])
        return out

    def variance(self, label: str) -> np.ndarray:
        """Population variance (ddof=0) of ``label``'s images."""
        return self.m2[label] / self.count[label]


@dataclass
class TopK:
    """The k images with the highest peak activation of each channel, with where it peaked.

    Attributes
    ----------
    value : ndarray of shape (C, m), float32
        Peak (max over y, x) of the channel's map, descending; m <= k.
    image, y, x : ndarray of shape (C, m), int64
        Row of the image in the store and the peak's location (first in C order on ties).
    """

    k: int
    value: np.ndarray | None = None
    image: np.ndarray | None = None
    y: np.ndarray | None = None
    x: np.ndarray | None = None

    def update(self, maps: np.ndarray, rows: np.ndarray) -> None:
        """Add a batch: ``maps`` of shape (B, C, H, W) for store rows ``rows`` (B,)."""
        b, c, h, w = maps.shape
        flat = maps.reshape(b, c, h * w)
        where = flat.argmax(axis=2)
        peak = np.take_along_axis(flat, where[..., None], axis=2)[..., 0]
        image = np.broadcast_to(np.asarray(rows, np.int64)[:, None], (b, c))
        self._keep(peak.T, image.T, (where // w).T, (where % w).T)

    def merge(self, other: TopK) -> TopK:
        if other.value is not None:
            assert other.image is not None and other.y is not None and other.x is not None
            self._keep(other.value, other.image, other.y, other.x)
        return self

    def _keep(self, value: np.ndarray, image: np.ndarray, y: np.ndarray, x: np.ndarray) -> None:
        parts = [value.astype(np.float32), image, y, x]
        if self.value is not None:
            old = [self.value, self.image, self.y, self.x]
            parts = [np.concatenate([o, p], axis=1) for o, p in zip(old, parts, strict=True)]
        # Highest value first; ties go to the lower image row, so any merge order agrees.
        order = np.lexsort((parts[1], -parts[0].astype(np.float64)), axis=1)[:, : self.k]
        self.value, self.image, self.y, self.x = (
            np.take_along_axis(p, order, axis=1).astype(p.dtype) for p in parts
        )


def aggregate_store(
    path: str | os.PathLike[str],
    *,
    layers: Sequence[str] | None = None,
    top_k: int = 9,
    block: int = 32,
    force: bool = False,
    progress: Progress | None = None,
) -> list[str]:
    """Per-label mean/variance and top-k of every layer's activations, added to the store.

    Rows are read ``block`` at a time; labels come from ``/inputs/label``.

    Returns
    -------
    list of str
        The layers aggregated.
    """
    if top_k < 1:
        raise StoreError("must be at least 1", param="top_k", value=top_k)
    with Store(path) as store:
        keys = list(layers) if layers else store.layers
        for key in keys:  # before any work: unknown layers and existing results
            store.activations(key)
            if f"aggregates/activations/{key}" in store.file and not force:
                msg = f"has activation aggregates in {store.path.name} already; pass {{force}}"
                raise StoreError(msg, param="layers", value=key, refs={"force": True})
        labels = [r["label"] for r in store.inputs]
        results = {}
        for done, key in enumerate(keys):
            ds = store.activations(key)
            stats, top = ClassStats(tuple(ds.shape[1:])), TopK(top_k)
            for n0 in range(0, ds.shape[0], block):
                maps = np.asarray(ds[n0 : n0 + block], dtype=np.float32)
                stats.update(maps, labels[n0 : n0 + len(maps)])
                top.update(maps, np.arange(n0, n0 + len(maps)))
            results[key] = (stats, top)
            if progress:
                progress(done + 1, len(keys))
    for key, (stats, top) in results.items():
        write_stats(path, "activations", key, stats, top, force=force)
    return keys


def write_stats(
    path: str | os.PathLike[str],
    kind: str,
    layer: str,
    stats: ClassStats,
    top: TopK | None = None,
    *,
    force: bool = False,
    attrs: dict[str, Any] | None = None,
) -> None:
    """Store ``stats`` (and ``top``) as ``/aggregates/<kind>/<layer>``, all or nothing."""
    if kind not in KINDS:
        msg = f"kind {kind!r} is not one of {', '.join(KINDS)}"
        raise StoreError(msg)
    labels = sorted(stats.count)
    every = stats.total()

    def fill(group: h5py.Group) -> None:
        names = [*labels, ALL]
        group.create_dataset("labels", data=names, dtype=h5py.string_dtype())
        counts = [stats.count[n] for n in labels] + [every.count.get(ALL, 0)]
        group.create_dataset("count", data=np.asarray(counts, dtype=np.int64))
        both = [(stats, n) for n in labels] + [(every, ALL)]
        mean = np.stack([s.mean[n] for s, n in both]) if every.count else np.zeros((0,))
        var = np.stack([s.variance(n) for s, n in both]) if every.count else np.zeros((0,))
        group.create_dataset("mean", data=mean, dtype=np.float64)
        group.create_dataset("variance", data=var, dtype=np.float64)
        for key, value in (attrs or {}).items():
            group.attrs[key] = value if isinstance(value, str | int | float) else json.dumps(value)
        if top is not None and top.value is not None:
            sub = group.create_group("top_k")
            stamp(sub, "top-k")
            sub.attrs["k"] = top.k
            for name in ("value", "image", "y", "x"):
                sub.create_dataset(name, data=getattr(top, name))

    with open_for_update(path) as handle:
        parent = handle.require_group("aggregates")
        if "volviz-encoding" not in parent.attrs:
            stamp(parent, "aggregates")
        sub = parent.require_group(kind)
        if "volviz-encoding" not in sub.attrs:
            stamp(sub, "aggregates")
        replace_group(sub, layer, "class-stats", fill, force=force)


def read_stats(store: Store, kind: str, layer: str) -> dict[str, Any]:
    """``labels`` (L,), ``count`` (L,), ``mean``/``variance`` (L, *shape), ``top_k`` (dict)."""
    group = store.file.get(f"aggregates/{kind}/{layer}")
    if group is None:
        have = ", ".join(list_stats(store, kind)) or "none (run `volviz dataset stats` first)"
        msg = f"has no {kind} aggregates in {store.path.name}; stored: {have}"
        raise StoreError(msg, param="layer", value=layer)
    check(group, "class-stats")
    out: dict[str, Any] = {k: group[k][()] for k in ("count", "mean", "variance")}
    out["labels"] = [str(s) for s in group["labels"].asstr()[()]]
    if "top_k" in group:
        check(group["top_k"], "top-k")
        out["top_k"] = {k: group["top_k"][k][()] for k in ("value", "image", "y", "x")}
        out["top_k"]["k"] = int(group["top_k"].attrs["k"])
    return out


def list_stats(store: Store, kind: str) -> list[str]:
    group = store.file.get(f"aggregates/{kind}")
    return sorted(members(group))


def order_from_stats(
    path: str | os.PathLike[str],
    layer: str,
    method: str = "best",
    *,
    label: str = ALL,
    name: str | None = None,
    force: bool = False,
    **params: Any,
) -> Any:
    """Order ``layer``'s channels on its mean map over many images; store and return it.

    The (C, H, W) mean of ``label``'s images (default: all images) comes from the stored
    aggregates, so ordering over 50,000 images reads one volume.
    """
    import ordering as orderings
    from volviz.store.orderings import StoredOrdering, plain_metrics, save_ordering

    with Store(path) as store:
        stats = read_stats(store, "activations", layer)
    if label not in stats["labels"]:
        msg = f"is not aggregated; labels: {', '.join(stats['labels'])}"
        raise StoreError(msg, param="label", value=label)
    volume = np.asarray(stats["mean"][stats["labels"].index(label)], dtype=np.float32)
    fitted = orderings.fit_order(volume, method, **params)
    stored = StoredOrdering(
        name=name or f"{method}-mean",
        order=fitted.order_,
        boundaries=fitted.boundaries_,
        method=method,
        params=fitted.get_params(),
        metrics=plain_metrics(fitted.metrics_),
        images=f"aggregate:mean[{label}]",
    )
    save_ordering(path, layer, stored, force=force)
    return stored


def stats_from_stored(stored: dict[str, Any], offset: int = 0) -> tuple[ClassStats, TopK | None]:
    """Accumulators back from ``read_stats`` output (image rows shifted by ``offset``)."""
    stats = ClassStats(tuple(stored["mean"].shape[1:]))
    for i, label in enumerate(stored["labels"]):
        if label != ALL and stored["count"][i]:
            n = int(stored["count"][i])
            stats._merge(label, n, stored["mean"][i], stored["variance"][i] * n)
    top = None
    if "top_k" in stored:
        t = stored["top_k"]
        top = TopK(int(t["k"]), t["value"], t["image"] + offset, t["y"], t["x"])
    return stats, top


def merge_shard_stats(
    path: str | os.PathLike[str], shards: Sequence[str | os.PathLike[str]], offsets: Sequence[int]
) -> None:
    """Write into ``path`` the merge of the aggregates every shard holds (rows offset)."""
    for kind in KINDS:
        stores = [Store(s) for s in shards]
        try:
            common = set.intersection(*(set(list_stats(s, kind)) for s in stores))
            for layer in sorted(common):
                parts = [
                    stats_from_stored(read_stats(s, kind, layer), off)
                    for s, off in zip(stores, offsets, strict=False)
                ]
                stats, top = parts[0]
                for other, other_top in parts[1:]:
                    stats.merge(other)
                    if top is not None and other_top is not None:
                        top.merge(other_top)
                write_stats(path, kind, layer, stats, top, force=True)
        finally:
            for store in stores:
                store.close()
