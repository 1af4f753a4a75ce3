"""Volumes from weights and weight gradients: (O, I, kh, kw) -> (O, kh, kw).

A conv weight (or its gradient) has one (kh, kw) kernel per output filter and input channel.
To draw it as a volume the input-channel axis is reduced: ``sum`` (what CNN-VIS did for RGB),
``abs`` (sum of absolute values: no cancellation), or ``l2`` (root of the sum of squares).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from volviz.errors import MISSING, VolvizError

REDUCTIONS = ("sum", "abs", "l2")


def reduce_input_channels(weights: np.ndarray, how: str = "sum") -> np.ndarray:
    """Reduce axis 1 of ``weights``.

    Parameters
    ----------
    weights : ndarray of shape (O, I, kh, kw)
    how : {"sum", "abs", "l2"}

    Returns
    -------
    ndarray of shape (O, kh, kw), float32
    """
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 4:
        msg = f"weights have shape {w.shape}, expected (O, I, kh, kw)"
        raise VolvizError(msg)
    if how == "sum":
        out = w.sum(axis=1)
    elif how == "abs":
        out = np.abs(w).sum(axis=1)
    elif how == "l2":
        out = np.sqrt((w * w).sum(axis=1))
    else:
        msg = f"is not one of {', '.join(REDUCTIONS)}"
        raise VolvizError(msg, param="reduce", value=how)
    return np.ascontiguousarray(out, dtype=np.float32)


def as_volume(
    array: np.ndarray,
    *,
    reduce: str = "sum",
    index: int | None = None,
    param: str = "array",
    value: object = MISSING,
) -> np.ndarray:
    """A (C, H, W) volume from an array of 3 to 5 dimensions; NaN and inf are refused.

    (C, H, W) is taken as is; (O, I, kh, kw) is reduced over I. With ``index``, a 4-D array
    is (N, C, H, W) and a 5-D one (N, O, I, kh, kw): sample ``index`` is taken first.
    ``param``/``value`` name where the array came from in errors (see :mod:`volviz.errors`).
    """
    a = np.asarray(array)
    if a.ndim == 5 and index is None:
        msg = f"has shape {a.shape} (N, O, I, kh, kw): pick one sample with {{index}}"
        raise VolvizError(msg, param=param, value=value, refs={"index": 0})
    if a.ndim in (4, 5) and index is not None:
        if not -a.shape[0] <= index < a.shape[0]:
            msg = f"is out of range: {_name(param, value)} holds {a.shape[0]}"
            raise VolvizError(msg, param="index", value=index)
        a = a[index]
    if a.ndim == 4:
        a = reduce_input_channels(a, reduce)
    elif a.ndim != 3:
        msg = f"has shape {a.shape}; expected (C, H, W) or (O, I, kh, kw)"
        raise VolvizError(msg, param=param, value=value)
    check_finite(a, param=param, value=value)
    return np.ascontiguousarray(a, dtype=np.float32)


def _name(param: str, value: object) -> str:
    return param if value is MISSING else repr(str(value))


def check_finite(volume: np.ndarray, *, param: str, value: object = MISSING) -> None:
    """Refuse a (C, H, W) volume holding NaN or inf: no colour map can show them truthfully."""
    bad = ~np.isfinite(volume)
    if bad.any():
        c, r, w = (int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(volume[c, r, w]) else "inf"
        msg = (
            f"contains {kind} ({int(bad.sum())} non-finite voxels; the first at channel {c}, "
            f"row {r}, column {w}); only finite values can be drawn"
        )
        raise VolvizError(msg, param=param, value=value)


def load_npy(
    path: str | os.PathLike[str], *, reduce: str = "sum", index: int | None = None
) -> np.ndarray:
    """A (C, H, W) volume from a ``.npy`` file (see ``as_volume``); pickles are refused."""
    p = Path(path)
    try:
        array = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        msg = f"is not a readable .npy array ({exc})"
        raise VolvizError(msg, param="path", value=path) from exc
    return as_volume(array, reduce=reduce, index=index, param="path", value=path)
