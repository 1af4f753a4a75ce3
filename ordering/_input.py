"""Turning volumes into items x features, per-map normalization and distance matrices.

Items are channels. A (C, H, W) volume gives C items with H * W features; an (N, C, H, W) stack
gives C items whose features are the channel's maps of all N images concatenated (image-major).
A 2D array is taken as already flattened: (items, features), i.e. one row per item (H = 1); this
is the scikit-learn estimator protocol. Row-slice methods take row ``row`` of every map instead
of the whole map.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.distance import pdist, squareform

from ordering._errors import OrderingError

METRICS = ("euclidean", "correlation", "cosine")
NORMALIZATIONS = (None, "zscore", "l2", "minmax")


def items_from_volume(X: Any, *, row: int | None = None, whole_rows: bool = False) -> Any:
    """Reshape a (C, H, W) or (N, C, H, W) volume to (C, n_features); pass 2D input through.

    Parameters
    ----------
    X : array-like of shape (C, H, W), (N, C, H, W) or (n_items, n_features)
        Volume, stack of volumes, or items x features.
    row : int or None, default=None
        With ``whole_rows=True``: the map row to keep (None: the middle row, ``H // 2``).
    whole_rows : bool, default=False
        Keep one row of every map instead of the whole map.

    Returns
    -------
    items : ndarray of shape (C, n_features) or the untouched 2D input
        ``n_features`` is H * W (whole maps), W (one row), times N for a stack.
    """
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        ndim = np.ndim(X) if isinstance(X, (list, tuple)) else 2
    if ndim == 2:
        if whole_rows and row not in (None, 0, -1):
            msg = f"row={row!r} is out of range for 2D input (one row per item: use 0 or None)"
            raise OrderingError(msg)
        if np.shape(X)[0] == 0:
            raise OrderingError(_empty_message(np.shape(X)))
        return X
    if ndim not in (3, 4):
        msg = (
            f"X must be (C, H, W), (N, C, H, W) or (n_items, n_features); "
            f"got a {ndim}D array of shape {np.shape(X)}"
        )
        raise OrderingError(msg)
    arr = np.asarray(X)
    if ndim == 4:
        arr = np.moveaxis(arr, 1, 0)  # (C, N, H, W): the channel's maps of all images
    if arr.shape[0] == 0:
        raise OrderingError(_empty_message(np.shape(X)))
    if whole_rows:
        height = arr.shape[-2]
        chosen = height // 2 if row is None else row
        if not isinstance(chosen, (int, np.integer)) or not -height <= chosen < height:
            msg = f"row={row!r} is out of range for maps with {height} rows (0..{height - 1})"
            raise OrderingError(msg)
        arr = arr[..., chosen, :]
    return arr.reshape(arr.shape[0], -1)


def _empty_message(shape: tuple[int, ...]) -> str:
    return f"X has 0 channels (shape {tuple(shape)}): an empty layer has nothing to order"


def check_finite(items: np.ndarray) -> None:
    """Raise :class:`OrderingError` naming the first channel that holds NaN or inf."""
    finite = np.isfinite(items)
    if finite.all():
        return
    channel = int(np.flatnonzero(~finite.all(axis=1))[0])
    bad = items[channel][~finite[channel]][0]
    kind = "NaN" if np.isnan(bad) else "inf"
    msg = f": channel {channel} contains {kind}; feature maps must be finite"
    raise OrderingError(msg, param="X")


def check_metric(metric: object, normalize: object) -> None:
    """Validate the ``metric`` and ``normalize`` parameters."""
    if metric not in METRICS:
        msg = f"is not one of {', '.join(map(repr, METRICS))}"
        raise OrderingError(msg, param="metric", value=metric)
    if normalize not in NORMALIZATIONS:
        msg = f"is not one of {', '.join(map(repr, NORMALIZATIONS))}"
        raise OrderingError(msg, param="normalize", value=normalize)


def normalize_items(items: np.ndarray, normalize: str | None) -> np.ndarray:
    """Normalize every item (map) on its own.

    Parameters
    ----------
    items : ndarray of shape (n_items, n_features)
    normalize : {None, "zscore", "l2", "minmax"}
        ``"zscore"``: mean 0 and standard deviation 1 per map; ``"l2"``: unit Euclidean norm;
        ``"minmax"``: 0..1 per map. Constant maps (zero maps for ``"l2"``) raise.

    Returns
    -------
    items : ndarray of shape (n_items, n_features), float64
    """
    items = np.asarray(items, dtype=np.float64)
    if normalize is None:
        return items
    if normalize == "zscore":
        centred = items - items.mean(axis=1, keepdims=True)
        scale = np.sqrt((centred**2).mean(axis=1))
        _reject_zero(scale, items, {"normalize": "zscore"}, "constant")
        return centred / scale[:, None]
    if normalize == "l2":
        scale = np.linalg.norm(items, axis=1)
        _reject_zero(scale, items, {"normalize": "l2"}, "all-zero")
        return items / scale[:, None]
    low = items.min(axis=1, keepdims=True)
    scale = items.max(axis=1) - low[:, 0]
    _reject_zero(scale, items, {"normalize": "minmax"}, "constant")
    return (items - low) / scale[:, None]


def _reject_zero(scale: np.ndarray, items: np.ndarray, what: dict[str, str], kind: str) -> None:
    """Raise when a map has ``scale`` 0; ``what`` is the parameter that needs it ({name: value})."""
    bad = np.flatnonzero(scale == 0)
    if bad.size:
        channel = int(bad[0])
        (name,) = what
        msg = (
            f": channel {channel} is {kind} (value {items[channel, 0]:g}; {bad.size} such "
            f"channel(s)); {{{name}}} is undefined for it: use the 'euclidean' metric "
            "without normalization, or drop the channel"
        )
        raise OrderingError(msg, param="X", refs=what)


def distance_matrix(
    items: np.ndarray, *, metric: str = "euclidean", normalize: str | None = None
) -> np.ndarray:
    """Pairwise distances between items after optional per-map normalization.

    Parameters
    ----------
    items : ndarray of shape (n_items, n_features)
        One flattened map (or row slice) per item.
    metric : {"euclidean", "correlation", "cosine"}, default="euclidean"
        ``"correlation"`` is 1 - Pearson r (undefined for constant maps), ``"cosine"`` is
        1 - cosine similarity (undefined for all-zero maps); both raise on such maps.
    normalize : {None, "zscore", "l2", "minmax"}, default=None
        Per-map normalization applied first (see :func:`normalize_items`).

    Returns
    -------
    dist : ndarray of shape (n_items, n_items), float64
        Symmetric, zero diagonal.
    """
    check_metric(metric, normalize)
    items = np.asarray(items, dtype=np.float64)
    check_finite(items)
    items = normalize_items(items, normalize)
    if items.shape[0] < 2:
        return np.zeros((items.shape[0], items.shape[0]))
    if metric == "correlation":
        spread = items.max(axis=1) - items.min(axis=1)
        _reject_zero(spread, items, {"metric": "correlation"}, "constant")
    elif metric == "cosine":
        _reject_zero(np.abs(items).max(axis=1), items, {"metric": "cosine"}, "all-zero")
    dist = squareform(pdist(items, metric=metric))
    return np.maximum(dist, 0.0)  # correlation/cosine can round to -1e-16
