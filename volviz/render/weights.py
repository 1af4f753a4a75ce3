"""Volumes from weights and weight gradients: (O, I, kh, kw) -> (O, kh, kw).

A conv weight (or its gradient) has one (kh, kw) kernel per output filter and input channel.
To draw it as a volume the input-channel axis is reduced: ``sum`` (what CNN-VIS did for RGB),
``abs`` (sum of absolute values: no cancellation), or ``l2`` (root of the sum of squares).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from volviz.errors import VolvizError

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
        msg = f"--reduce {how!r} is not one of {', '.join(REDUCTIONS)}"
        raise VolvizError(msg)
    return np.ascontiguousarray(out, dtype=np.float32)


def as_volume(
    array: np.ndarray, *, reduce: str = "sum", index: int | None = None, name: str = "array"
) -> np.ndarray:
    """A (C, H, W) volume from an array of 3 to 5 dimensions.

    (C, H, W) is taken as is; (O, I, kh, kw) is reduced over I. With ``index``, a 4-D array
    is (N, C, H, W) and a 5-D one (N, O, I, kh, kw): sample ``index`` is taken first.
    """
    a = np.asarray(array)
    if a.ndim == 5 and index is None:
        msg = f"{name} has shape {a.shape} (N, O, I, kh, kw): pick one with --image"
        raise VolvizError(msg)
    if a.ndim in (4, 5) and index is not None:
        if not -a.shape[0] <= index < a.shape[0]:
            msg = f"--image {index} is out of range: {name} holds {a.shape[0]}"
            raise VolvizError(msg)
        a = a[index]
    if a.ndim == 4:
        return reduce_input_channels(a, reduce)
    if a.ndim != 3:
        msg = f"{name} has shape {a.shape}; expected (C, H, W) or (O, I, kh, kw)"
        raise VolvizError(msg)
    return np.ascontiguousarray(a, dtype=np.float32)


def load_npy(
    path: str | os.PathLike[str], *, reduce: str = "sum", index: int | None = None
) -> np.ndarray:
    """A (C, H, W) volume from a ``.npy`` file (see ``as_volume``); pickles are refused."""
    p = Path(path)
    try:
        array = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        msg = f"--npy {str(p)!r} is not a readable .npy array ({exc})"
        raise VolvizError(msg) from exc
    return as_volume(array, reduce=reduce, index=index, name=f"--npy {p.name!r}")
