"""Volumes as viewers and exporters want them: reordered, display-normalized, spaced.

Display scaling (``normalize``) and box shape (``auto_spacing``) are numpy only, shared by the
renderers and the exporters.

The stored data stays raw and in original channel order; this module makes the views and
records what was done so every output can say it (and map a slice back to its channel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from volviz.errors import VolvizError
from volviz.store.reader import Store

NORMALIZATIONS = ("percentile", "minmax", "channel", "symmetric")
_NAMES = {
    "percentile": "percentile clip 1..99.5",
    "minmax": "global min-max",
    "symmetric": "symmetric",
}


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
    """``normalize`` without its description; ``none`` returns the data as float32."""
    if method == "none":
        return np.asarray(data, dtype=np.float32)
    return normalize(data, method)[0]


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
    # h5py reads increasing indices only; the images keep the order they were asked in.
    unique = sorted(set(index))
    block = ds[index[0]] if len(index) == 1 else ds[unique][[unique.index(i) for i in index]]
    data = np.asarray(block, dtype=np.float32)
    order = np.arange(data.shape[-3])
    clusters = None
    if ordering:
        stored = store.ordering(layer, ordering)
        order = stored.order
        clusters = cluster_labels(order, stored.boundaries)
        data = np.ascontiguousarray(np.take(data, order, axis=-3))
    data = normalize_array(data, normalization)
    chosen = [names[i] for i in index]
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


def cluster_labels(order: np.ndarray, boundaries: np.ndarray) -> np.ndarray | None:
    """Cluster label of each ORIGINAL channel, from boundary positions in the ordered list."""
    if len(boundaries) == 0:
        return None
    by_position = np.searchsorted(np.asarray(boundaries), np.arange(len(order)), side="right")
    labels = np.empty(len(order), dtype=np.int64)
    labels[order] = by_position
    return labels


def display_range(volumes: Sequence[np.ndarray], method: str) -> tuple[float, float] | None:
    """The (lo, hi) that ``method`` maps to 0..1 over all ``volumes`` together.

    ``None`` for ``channel`` (each channel has its own). ``symmetric`` gives (-m, m).
    """
    flat = np.concatenate([np.asarray(v, dtype=np.float32).ravel() for v in volumes])
    if method == "percentile":
        lo, hi = np.percentile(flat, [1.0, 99.5])
    elif method == "minmax":
        lo, hi = flat.min(), flat.max()
    elif method == "symmetric":
        hi = float(np.percentile(np.abs(flat), 99.5))
        lo = -hi
    elif method == "channel":
        return None
    else:
        msg = f"is not one of {', '.join(NORMALIZATIONS)}"
        raise VolvizError(msg, param="normalization", value=method)
    return float(lo), float(hi)


def data_limits(lo: Any, hi: Any) -> tuple[float, float] | None:
    """``(lo, hi)`` as one data range for a colour bar; ``None`` where they are per-channel
    arrays (no one range: the bar reads display 0..1)."""
    return None if np.ndim(lo) else (float(lo), float(hi))


def normalize(
    volume: np.ndarray, method: str = "percentile", *, limits: tuple[float, float] | None = None
) -> tuple[np.ndarray, str]:
    """Scale (C, H, W) or (N, C, H, W) for display to 0..1; return it and a description.

    ``percentile`` clips to the 1st..99.5th percentile, ``minmax`` uses the global range,
    ``channel`` scales each channel by its own range, ``symmetric`` maps -m..m (m = 99.5th
    percentile of ``|volume|``) so that 0 lands on 0.5 (signed data such as gradients).
    ``limits`` replaces the range computed from ``volume`` (to share one across volumes).
    """
    if method not in NORMALIZATIONS:
        msg = f"is not one of {', '.join(NORMALIZATIONS)}"
        raise VolvizError(msg, param="normalization", value=method)
    v = np.asarray(volume, dtype=np.float32)
    if method == "channel":
        axes = tuple(i for i in range(v.ndim) if i != v.ndim - 3)
        lo: Any = v.min(axis=axes, keepdims=True)
        hi: Any = v.max(axis=axes, keepdims=True)
        label = "per-channel min-max"
    else:
        lo, hi = limits if limits is not None else display_range([v], method)  # type: ignore[misc]
        label = f"{_NAMES[method]} ({lo:.3g}..{hi:.3g})"
        if hi <= lo:  # no spread to show: say so; symmetric keeps 0 at the middle (0.5)
            constant = v.size and float(v.min()) == float(v.max())
            label = f"{_NAMES[method]} ({'constant' if constant else 'no spread at'} {lo:.3g})"
            if constant and method == "symmetric":
                label = f"{_NAMES[method]} (constant {float(v.flat[0]):.3g})"
            if method == "symmetric":
                return (0.5 + 0.5 * np.sign(v)).astype(np.float32), label
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((v - lo) / span, 0.0, 1.0).astype(np.float32), label


def auto_spacing(shape: Sequence[int], max_ratio: float = 2.5) -> tuple[float, float, float]:
    """Stretch short axes so no side of the box is over ``max_ratio`` times shorter.

    A 1,280x7x7 or 32x112x112 volume would otherwise be a needle or a sheet.
    """
    longest = max(shape)
    return tuple(  # type: ignore[return-value]
        max(1.0, longest / max_ratio / n) for n in shape
    )


def parse_spacing(text: str | None) -> tuple[float, float, float] | None:
    """``auto`` / ``None`` -> None; ``"DZ,DY,DX"`` -> floats, each > 0."""
    if text is None or text == "auto":
        return None
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(np.isfinite(values)) or min(values) <= 0:
        msg = "is not 'auto' or three numbers > 0 'DZ,DY,DX'"
        raise VolvizError(msg, param="spacing", value=text)
    return values  # type: ignore[return-value]
