"""CKA similarity read from stores: layers x layers, store A x store B, training steps.

Every comparison streams minibatches of images (``MinibatchCKA``): memory holds one
minibatch of one layer plus a Gram matrix per layer, whatever the number of images.
Results are stored under ``/analysis/similarity/<what>-<kind>`` (docs/format.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from volviz.analysis.cka import MinibatchCKA, batch_bounds, check_kind, gram, kernel_from_linear
from volviz.analysis.stats import prefer_post
from volviz.errors import InputError, StoreError
from volviz.store.reader import Store
from volviz.store.schema import members

Progress = Callable[[int, int], None]
GROUP = "similarity"
BLOCK_BYTES = 64 * 2**20  # one read of a minibatch: a block of channels, about this size
ESTIMATOR = "minibatch unbiased HSIC (Nguyen et al. 2021)"


@dataclass
class Similarity:
    """One CKA result.

    ``matrix`` is (len(rows), len(cols)): for ``layers`` and ``pair`` rows and columns are
    layer keys; for ``training`` rows are recorded steps (``steps``) and columns layer keys,
    each entry CKA(layer at that step, the same layer at the last step).
    """

    what: str  # layers | pair | training
    kind: str
    matrix: np.ndarray
    rows: list[str]
    cols: list[str]
    n_images: int
    batch_size: int
    n_batches: int
    threshold: float = 1.0
    steps: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.what}-{self.kind}"


def default_layers(store: Store) -> list[str]:
    """The store's layer keys, post-activation keys in place of raw outputs when both exist."""
    return prefer_post(store.layers)


def layer_similarity(
    store: Store,
    layers: Sequence[str] | None = None,
    *,
    kind: str = "linear",
    batch_size: int = 64,
    threshold: float = 1.0,
    progress: Progress | None = None,
) -> Similarity:
    """CKA between every pair of ``layers`` of one store (all images, streamed)."""
    check_kind(kind)
    keys = _checked(store, layers)
    bounds = batch_bounds(store.n_images, batch_size)
    est = MinibatchCKA(len(keys))
    datasets = [store.activations(k) for k in keys]
    for done, (i0, i1) in enumerate(bounds, start=1):
        index = np.arange(i0, i1)
        est.update([_gram(ds, index, kind, threshold) for ds in datasets])
        if progress:
            progress(done, len(bounds))
    return Similarity(
        "layers", kind, est.result(), keys, keys, est.n_inputs, batch_size, est.n_batches, threshold
    )


def pair_similarity(
    store: Store,
    other: Store,
    layers: Sequence[str] | None = None,
    other_layers: Sequence[str] | None = None,
    *,
    kind: str = "linear",
    batch_size: int = 64,
    threshold: float = 1.0,
    progress: Progress | None = None,
) -> Similarity:
    """CKA between each layer of ``store`` and each layer of ``other`` on their shared inputs.

    Images are matched by the SHA-256 of their content (``/inputs/sha256``), so the two
    stores may hold them in any order and each may hold images the other lacks.
    """
    check_kind(kind)
    rows, cols = _checked(store, layers), _checked(other, other_layers)
    ia, ib = matched_inputs(store, other)
    bounds = batch_bounds(len(ia), batch_size)
    est = MinibatchCKA(len(rows), len(cols))
    ds_a = [store.activations(k) for k in rows]
    ds_b = [other.activations(k) for k in cols]
    for done, (i0, i1) in enumerate(bounds, start=1):
        est.update(
            [_gram(ds, ia[i0:i1], kind, threshold) for ds in ds_a],
            [_gram(ds, ib[i0:i1], kind, threshold) for ds in ds_b],
        )
        if progress:
            progress(done, len(bounds))
    attrs = {"other_file": str(other.path), "other_model": str(other.provenance.get("model", ""))}
    return Similarity(
        "pair", kind, est.result(), rows, cols, est.n_inputs, batch_size, est.n_batches,
        threshold, attrs=attrs,
    )  # fmt: skip


def training_similarity(
    store: Store,
    layers: Sequence[str] | None = None,
    *,
    kind: str = "linear",
    threshold: float = 1.0,
    progress: Progress | None = None,
) -> Similarity:
    """CKA of each layer at every recorded step with its last recorded state (probe images).

    All probe images form one minibatch (the unbiased estimator; at least 4 probes).
    """
    from volviz.store.timeline import Timeline

    check_kind(kind)
    keys = _checked(store, layers)
    timeline = Timeline(store)
    steps = np.asarray(timeline.steps)
    if len(steps) < 1:
        msg = f"{store.path.name} holds no complete training record yet"
        raise StoreError(msg)
    out = np.empty((len(steps), len(keys)))
    n = 0
    for j, key in enumerate(keys):
        series = store.layer_group(key)["timeline_activations"]
        n = int(series.shape[1])
        batch_bounds(n, n)  # checks n >= 4
        last = gram(series[len(steps) - 1], kind, threshold=threshold)
        for t in range(len(steps)):
            est = MinibatchCKA(1, 1)
            est.update([gram(series[t], kind, threshold=threshold)], [last])
            out[t, j] = est.result()[0, 0]
        if progress:
            progress(j + 1, len(keys))
    rows = [str(int(s)) for s in steps]
    return Similarity("training", kind, out, rows, keys, n, n, 1, threshold, steps=steps)


def matched_inputs(store: Store, other: Store) -> tuple[np.ndarray, np.ndarray]:
    """Indices (in ``store``, in ``other``) of the images both hold, by content SHA-256."""
    first: dict[str, int] = {}
    for i, record in enumerate(other.inputs):
        if record.get("sha256"):
            first.setdefault(record["sha256"], i)
    pairs = [
        (i, first[r["sha256"]]) for i, r in enumerate(store.inputs) if r.get("sha256") in first
    ]
    if len(pairs) < 4:
        msg = (
            f"{store.path.name} and {other.path.name} share {len(pairs)} images (matched by "
            "SHA-256 of their content); CKA needs at least 4: capture the same inputs into both"
        )
        raise InputError(msg)
    a, b = zip(*pairs, strict=True)
    return np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)


def _gram(ds: h5py.Dataset, index: np.ndarray, kind: str, threshold: float) -> np.ndarray:
    """Gram matrix of images ``index`` of an (N, C, H, W) dataset, summed over channel blocks
    of about ``BLOCK_BYTES`` (memory does not grow with the layer's size)."""
    per_channel = max(1, int(np.prod(ds.shape[2:])) * ds.dtype.itemsize * len(index))
    step = max(1, BLOCK_BYTES // per_channel)
    chunk = ds.chunks[1] if ds.chunks else 1
    step = max(chunk, step // chunk * chunk)  # whole chunks per read
    linear = np.zeros((len(index), len(index)))
    for c0 in range(0, ds.shape[1], step):
        block = _read(ds, index, slice(c0, c0 + step)).reshape(len(index), -1)
        linear += block @ block.T
    return kernel_from_linear(linear, kind, threshold=threshold)


def _read(ds: h5py.Dataset, index: np.ndarray, channels: slice) -> np.ndarray:
    """Rows ``index`` (in that order) and ``channels`` of ``ds`` (a slice when contiguous)."""
    if len(index) and np.array_equal(index, np.arange(index[0], index[0] + len(index))):
        return np.asarray(ds[int(index[0]) : int(index[0]) + len(index), channels])
    order = np.argsort(index, kind="stable")
    rows = np.asarray(ds[np.sort(index).tolist(), channels])
    out = np.empty_like(rows)
    out[order] = rows
    return out


def _checked(store: Store, layers: Sequence[str] | None) -> list[str]:
    keys = list(layers) if layers else default_layers(store)
    for key in keys:
        store.layer_group(key)  # unknown names: one clear error with close matches
    if not keys:
        msg = f"{store.path.name} holds no layers"
        raise StoreError(msg)
    return keys


def save_similarity(path: str | os.PathLike[str], result: Similarity, *, force: bool) -> None:
    """Write ``result`` to ``/analysis/similarity/<what>-<kind>`` (replacing needs ``force``)."""
    from volviz.store.edit import open_for_update, replace_group
    from volviz.store.schema import check, stamp

    text = h5py.string_dtype()
    with open_for_update(path) as handle:
        if "analysis" not in handle:
            stamp(handle.create_group("analysis"), "analysis")
        parent = handle["analysis"]
        if GROUP not in parent:
            stamp(parent.create_group(GROUP), "similarity")
        check(parent[GROUP], "similarity")

        def fill(group: h5py.Group) -> None:
            group.create_dataset("cka", data=result.matrix.astype(np.float64))
            group.create_dataset("rows", data=result.rows, dtype=text)
            group.create_dataset("cols", data=result.cols, dtype=text)
            if result.steps is not None:
                group.create_dataset("steps", data=np.asarray(result.steps, dtype=np.int64))
            group.attrs.update(
                {
                    "what": result.what,
                    "kind": result.kind,
                    "estimator": ESTIMATOR,
                    "n_images": result.n_images,
                    "batch_size": result.batch_size,
                    "n_batches": result.n_batches,
                    "rbf_threshold": result.threshold,
                    **{
                        k: json.dumps(v) if not isinstance(v, str) else v
                        for k, v in result.attrs.items()
                    },
                }
            )

        replace_group(parent[GROUP], result.name, "similarity-result", fill, force=force)


def stored_similarities(store: Store) -> list[str]:
    """Names of the stored results (``layers-linear``, ``pair-rbf``...)."""
    group = store.file.get(f"analysis/{GROUP}")
    return sorted(members(group))


def load_similarity(store: Store, name: str) -> Similarity:
    """Read a stored result by name (see ``stored_similarities``)."""
    from volviz.store.schema import check, read_attrs

    names = stored_similarities(store)
    if name not in names:
        have = ", ".join(names) or "none"
        msg = f"no similarity {name!r} in {store.path.name} (stored: {have}); run volviz similarity"
        raise StoreError(msg)
    group = store.file[f"analysis/{GROUP}/{name}"]
    check(group, "similarity-result")
    attrs = read_attrs(group)
    extra = {k: v for k, v in attrs.items() if k in ("other_file", "other_model")}
    return Similarity(
        what=str(attrs["what"]),
        kind=str(attrs["kind"]),
        matrix=group["cka"][()],
        rows=list(group["rows"].asstr()[()]),
        cols=list(group["cols"].asstr()[()]),
        n_images=int(attrs["n_images"]),
        batch_size=int(attrs["batch_size"]),
        n_batches=int(attrs["n_batches"]),
        threshold=float(attrs["rbf_threshold"]),
        steps=group["steps"][()] if "steps" in group else None,
        attrs=extra,
    )
