"""Volumes as viewers and exporters want them: optionally reordered and display-normalized.

The stored data stays raw and in original channel order; this module makes the views and
records what was done so every output can say it (and map a slice back to its channel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from volviz.errors import VolvizError
from volviz.store.reader import Store

NORMALIZATIONS = ("none", "minmax", "percentile", "channel")


@dataclass
class VolumeView:
    """A (C, H, W) or (N, C, H, W) array with the channel order and scaling it was given."""

    data: np.ndarray
    layer: str
    images: list[str]
    channel_order: np.ndarray
    ordering: str = "original"
    normalization: str = "none"
    clusters: np.ndarray | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def normalize_array(data: np.ndarray, method: str) -> np.ndarray:
    """Scale to 0..1: global ``minmax``, ``percentile`` (1..99.5 clip), per-``channel``.

    The channel axis is -3, so (C, H, W) and (N, C, H, W) both work. ``none`` returns data.
    """
    v = np.asarray(data, dtype=np.float32)
    if method == "none":
        return v
    if method == "minmax":
        lo, hi = v.min(), v.max()
    elif method == "percentile":
        lo, hi = np.percentile(v, [1.0, 99.5])
    elif method == "channel":
        axes = tuple(i for i in range(v.ndim) if i != v.ndim - 3)
        lo, hi = v.min(axis=axes, keepdims=True), v.max(axis=axes, keepdims=True)
    else:
        msg = f"--normalize {method!r} is not one of {', '.join(NORMALIZATIONS)}"
        raise VolvizError(msg)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((v - lo) / span, 0.0, 1.0).astype(np.float32)


def layer_view(
    store: Store,
    layer: str,
    images: Sequence[int | str] | None,
    *,
    ordering: str | None = None,
    normalization: str = "none",
) -> VolumeView:
    """Read ``layer`` for one image (C, H, W) or several (N, C, H, W), reorder, normalize."""
    ds = store.activations(layer)
    names = [r["name"] for r in store.inputs]
    if images is None:
        index = list(range(store.n_images))
    else:
        index = [store.image_index(i) for i in images]
    data = ds[index[0]] if len(index) == 1 else ds[sorted(index)]
    data = np.asarray(data, dtype=np.float32)
    order = np.arange(data.shape[-3])
    clusters = None
    if ordering:
        stored = store.ordering(layer, ordering)
        order = stored.order
        clusters = _cluster_labels(order, stored.boundaries)
        data = np.ascontiguousarray(np.take(data, order, axis=-3))
    data = normalize_array(data, normalization)
    chosen = [names[i] for i in (index if len(index) == 1 else sorted(index))]
    meta = {
        "volviz_layer": layer,
        "volviz_images": ",".join(chosen),
        "volviz_normalization": normalization,
        "volviz_ordering": ordering or "original",
        "volviz_channel_order": " ".join(str(int(c)) for c in order),
        "volviz_source": str(store.path.name),
        "volviz_model": str(store.provenance.get("model", "")),
    }
    return VolumeView(
        data, layer, chosen, order, ordering or "original", normalization, clusters, meta
    )


def _cluster_labels(order: np.ndarray, boundaries: np.ndarray) -> np.ndarray | None:
    """Cluster label of each ORIGINAL channel, from boundary positions in the ordered list."""
    if len(boundaries) == 0:
        return None
    by_position = np.searchsorted(np.asarray(boundaries), np.arange(len(order)), side="right")
    labels = np.empty(len(order), dtype=np.int64)
    labels[order] = by_position
    return labels
