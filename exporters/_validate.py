"""Input checks shared by every exporter: one clear error naming the parameter and value."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from exporters._errors import ExportError

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")

#: dtypes every voxel format (except .npy) can store exactly.
STORABLE_DTYPES = frozenset(
    np.dtype(t)
    for t in ("float32", "float64", "uint8", "int8", "uint16", "int16", "int32", "uint32")
)


def _shape_text(arr: np.ndarray) -> str:
    return "(" + ", ".join(str(s) for s in arr.shape) + ")"


def check_array(
    value: Any,
    *,
    param: str,
    ndims: Sequence[int] = (3,),
    layout: str = "(C, H, W)",
    dtypes: frozenset[np.dtype[Any]] | None = STORABLE_DTYPES,
    finite: bool = True,
) -> np.ndarray:
    """Validate a numeric array and return it C-contiguous.

    Parameters
    ----------
    value : array_like
        The array to check.
    param : str
        Parameter name used in error messages.
    ndims : sequence of int
        Accepted numbers of dimensions.
    layout : str
        Human-readable axis layout for the error message, e.g. ``"(C, H, W)"``.
    dtypes : frozenset of numpy.dtype or None
        Accepted dtypes; None accepts any real numeric dtype.
    finite : bool
        Reject NaN and infinities.

    Returns
    -------
    ndarray
        ``value`` as a C-contiguous array (no copy when it already is one).
    """
    arr = np.asarray(value)
    if arr.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        msg = f"must be a {want} array {layout}, got shape {_shape_text(arr)}"
        raise ExportError(msg, param=param)
    if arr.size == 0:
        raise ExportError(f"is empty, got shape {_shape_text(arr)}", param=param)
    if arr.dtype.kind not in "fiu":
        raise ExportError(f"must be a real numeric array, got dtype {arr.dtype}", param=param)
    if dtypes is not None and arr.dtype not in dtypes:
        names = ", ".join(sorted(str(d) for d in dtypes))
        msg = f"has dtype {arr.dtype}, which this format cannot store; use one of {names}"
        raise ExportError(msg, param=param)
    if finite and arr.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            msg = f"contains {bad} non-finite values (NaN or inf) out of {arr.size}"
            raise ExportError(msg, param=param)
    return np.ascontiguousarray(arr)


def check_triple(value: Any, *, param: str, positive: bool) -> tuple[float, float, float]:
    """Validate a (C, H, W)-ordered triple of finite floats (spacing or origin)."""
    try:
        trip = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        msg = "must be 3 numbers in (C, H, W) order"
        raise ExportError(msg, param=param, value=value) from None
    if len(trip) != 3 or not all(np.isfinite(trip)):
        msg = "must be 3 finite numbers in (C, H, W) order"
        raise ExportError(msg, param=param, value=value)
    if positive and min(trip) <= 0:
        raise ExportError("must be positive", param=param, value=value)
    return (trip[0], trip[1], trip[2])


def check_metadata(value: Mapping[str, str] | None, *, param: str = "metadata") -> dict[str, str]:
    """Validate plain string metadata: identifier-like keys, single-line printable values."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        msg = f"{param} must be a mapping of str to str, got {type(value).__name__}"
        raise ExportError(msg)
    out: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            msg = f"{param} key {key!r} must match {_KEY_RE.pattern}"
            raise ExportError(msg)
        if not isinstance(val, str):
            msg = f"{param}[{key!r}] must be a str, got {type(val).__name__} {val!r}"
            raise ExportError(msg)
        if not val.isprintable():
            msg = f"{param}[{key!r}] must be one printable line, got {val!r}"
            raise ExportError(msg)
        out[key] = val
    return out


def minmax01(arr: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Scale to [0, 1] in float64 by ``(x - vmin) / (vmax - vmin)``, clipped.

    ``vmin``/``vmax`` default to the data range; a constant array maps to all zeros.
    """
    data = arr.astype(np.float64)
    lo = float(data.min()) if vmin is None else float(vmin)
    hi = float(data.max()) if vmax is None else float(vmax)
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi < lo:
        msg = f"vmin/vmax must be finite with vmin <= vmax, got vmin={lo!r}, vmax={hi!r}"
        raise ExportError(msg)
    if hi == lo:
        return np.zeros_like(data)
    return np.clip((data - lo) / (hi - lo), 0.0, 1.0)
