"""The legacy CNN-VIS voxel pair: ``name.vox`` (raw bytes) + ``name.hd`` (text header).

``.vox`` holds ``rint(minmax(volume) * 255)`` as unsigned bytes in C order of the (C, H, W)
volume, so x = column is the fastest axis. The original header read
``Size HxWxC unsigned byte`` / ``Spacing 1.0x1.0x1.0``: it named H first although W is the
fastest axis, which square feature maps hid. This module writes the corrected header
``Size WxHxC`` (fastest axis first, like the data) plus a third line ``Order WxHxC ...`` that
marks it as corrected. For square maps the first two lines are byte-identical to the original.

Reading: a header with the ``Order WxHxC`` line is read as W, H, C. A header without it is a
legacy one; for square maps both readings agree, for non-square ones it is read the way the
legacy writer wrote it (H first). Pass ``layout="fixed"`` or ``"legacy"`` to override.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from exporters._atomic import atomic_outputs, check_destination, write_error
from exporters._errors import ExportError
from exporters._validate import check_array, check_triple, minmax01

__all__ = ["LegacyHeader", "read_legacy_header", "read_legacy_vox", "write_legacy_vox"]

_SIZE_RE = re.compile(r"^\s*Size\s+(\d+)\s*x\s*(\d+)\s*x\s*(\d+)\s*(.*?)\s*$", re.I | re.M)
_SPACING_RE = re.compile(r"^\s*Spacing\s+(\S+?)\s*x\s*(\S+?)\s*x\s*(\S+)\s*$", re.I | re.M)
_ORDER_RE = re.compile(r"^\s*Order\s+WxHxC\b", re.I | re.M)
_ORDER_LINE = "Order WxHxC (x = column fastest; legacy CNN-VIS headers said HxWxC)"

Layout = Literal["auto", "legacy", "fixed"]


class LegacyHeader(NamedTuple):
    """A parsed ``.hd`` header.

    Attributes
    ----------
    shape : tuple of int
        (C, H, W) of the volume in the ``.vox`` file.
    spacing : tuple of float
        In (C, H, W) order.
    fixed : bool
        True when the header is read as the corrected W x H x C one.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    fixed: bool


def _fmt(x: float) -> str:
    return repr(float(x))


def legacy_bytes(
    volume: np.ndarray, *, vmin: float | None = None, vmax: float | None = None
) -> np.ndarray:
    """``rint(minmax(volume) * 255)`` as uint8 of shape (C, H, W), computed in float64.

    A constant volume gives all zeros.
    """
    return np.rint(minmax01(volume, vmin, vmax) * 255.0).astype(np.uint8)


def header_text(shape: tuple[int, ...], spacing: tuple[float, float, float]) -> str:
    """The corrected ``.hd`` text for a (C, H, W) volume with (C, H, W) spacing."""
    c, h, w = shape
    sc, sh, sw = spacing
    return (
        f"Size {w}x{h}x{c} unsigned byte \n"
        f"Spacing {_fmt(sw)}x{_fmt(sh)}x{_fmt(sc)}\n"
        f"{_ORDER_LINE}\n"
    )


def write_legacy_vox(
    vox_path: str | os.PathLike[str],
    volume: Any,
    *,
    spacing: Any = (1.0, 1.0, 1.0),
    vmin: float | None = None,
    vmax: float | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write the CNN-VIS ``.vox`` + ``.hd`` pair with the corrected header.

    Parameters
    ----------
    vox_path : str or path-like
        Output ``.vox``; the header goes to the same name with suffix ``.hd``.
    volume : array_like of shape (C, H, W)
        Any real dtype, finite.
    spacing : sequence of 3 float
        In (C, H, W) order.
    vmin, vmax : float, optional
        Value range mapped to 0 and 255 (default: the volume's min and max).
    overwrite : bool
        Replace existing files.

    Returns
    -------
    list of Path
        ``[vox, hd]``.
    """
    vol = check_array(volume, param="volume", dtypes=None)
    spc = check_triple(spacing, param="spacing", positive=True)
    dest = check_destination(vox_path, param="vox_path", overwrite=overwrite)
    hd = check_destination(dest.with_suffix(".hd"), param="vox_path", overwrite=overwrite)
    data = legacy_bytes(vol, vmin=vmin, vmax=vmax)
    try:
        with atomic_outputs([dest, hd]) as (tmp_vox, tmp_hd):
            data.tofile(tmp_vox)
            tmp_hd.write_bytes(header_text(data.shape, spc).encode("ascii"))
    except OSError as exc:
        raise write_error(exc, dest, param="vox_path") from exc
    return [dest, hd]


def read_legacy_header(hd_path: str | os.PathLike[str], *, layout: Layout = "auto") -> LegacyHeader:
    """Parse a ``.hd`` header (legacy or corrected).

    Parameters
    ----------
    hd_path : str or path-like
        The header file.
    layout : {"auto", "legacy", "fixed"}
        "auto" reads a header with an ``Order WxHxC`` line as W x H x C and one without as
        the legacy H x W x C; the other two force one reading.

    Returns
    -------
    LegacyHeader
    """
    if layout not in ("auto", "legacy", "fixed"):
        msg = f"layout must be 'auto', 'legacy' or 'fixed', got {layout!r}"
        raise ExportError(msg)
    path = Path(hd_path)
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        msg = f"hd_path={str(hd_path)!r} could not be read: {exc.strerror or exc}"
        raise ExportError(msg) from exc
    size = _SIZE_RE.search(text)
    if size is None:
        msg = f"hd_path={str(hd_path)!r} has no 'Size AxBxC unsigned byte' line"
        raise ExportError(msg)
    if "unsigned byte" not in size.group(4).lower():
        msg = f"hd_path={str(hd_path)!r}: element type {size.group(4)!r} is not 'unsigned byte'"
        raise ExportError(msg)
    a, b, c = (int(size.group(i)) for i in (1, 2, 3))
    spacing_abc = (1.0, 1.0, 1.0)
    spc = _SPACING_RE.search(text)
    if spc is not None:
        try:
            spacing_abc = (float(spc.group(1)), float(spc.group(2)), float(spc.group(3)))
        except ValueError:
            msg = f"hd_path={str(hd_path)!r} has a malformed Spacing line {spc.group(0)!r}"
            raise ExportError(msg) from None
    fixed = layout == "fixed" or (layout == "auto" and _ORDER_RE.search(text) is not None)
    if fixed:  # a, b = W, H
        return LegacyHeader((c, b, a), (spacing_abc[2], spacing_abc[1], spacing_abc[0]), True)
    # legacy writer: a, b = H, W
    return LegacyHeader((c, a, b), (spacing_abc[2], spacing_abc[0], spacing_abc[1]), False)


def read_legacy_vox(
    vox_path: str | os.PathLike[str],
    hd_path: str | os.PathLike[str] | None = None,
    *,
    layout: Layout = "auto",
) -> np.ndarray:
    """Read a CNN-VIS ``.vox`` file as a (C, H, W) uint8 volume.

    Parameters
    ----------
    vox_path : str or path-like
        The raw byte file.
    hd_path : str or path-like, optional
        Its header; default: ``vox_path`` with suffix ``.hd``.
    layout : {"auto", "legacy", "fixed"}
        How to read the header's Size line, see :func:`read_legacy_header`.

    Returns
    -------
    ndarray of shape (C, H, W), dtype uint8
    """
    vox = Path(vox_path)
    header = read_legacy_header(
        vox.with_suffix(".hd") if hd_path is None else hd_path, layout=layout
    )
    try:
        raw = np.fromfile(vox, dtype=np.uint8)
    except OSError as exc:
        msg = f"vox_path={str(vox_path)!r} could not be read: {exc.strerror or exc}"
        raise ExportError(msg) from exc
    expected = int(np.prod(header.shape))
    if raw.size != expected:
        c, h, w = header.shape
        msg = (
            f"vox_path={str(vox_path)!r} holds {raw.size} bytes but its header's Size "
            f"gives {expected} (read as C={c}, H={h}, W={w})"
        )
        raise ExportError(msg)
    return raw.reshape(header.shape)
