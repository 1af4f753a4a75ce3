"""Occupancy voxel formats for 3D voxel editors: MagicaVoxel ``.vox`` and ``.binvox``.

Both threshold a min-max normalized copy of the volume: ``norm = clip((v - vmin) /
(vmax - vmin), 0, 1)`` (vmin/vmax default to the data range; a constant volume is all 0), and
a voxel is filled iff ``norm > threshold``. With ``threshold=0.5`` this equals CNN-VIS's
``rint(minmax01(v))`` binarization exactly (``rint(0.5) == 0``).

Axes as everywhere in volviz: x = column (W), y = row (H), z = channel (C).
Neither format has a place for text metadata; binvox keeps origin and (isotropic) spacing.

MagicaVoxel (format version 150, chunks MAIN > SIZE, XYZI, RGBA): colour index
``1 + rint(norm * 254)`` into a 255-entry palette sampled from a matplotlib colormap at
``k / 254`` (file palette entry k is colour index k + 1; index 0 means empty). Each axis
holds at most 256 voxels: a larger volume raises, or with ``oversize="downsample"`` is
max-pooled by the integer factor ``ceil(n / 256)`` along each axis that is too long (the
normalization range is taken from the full volume first, so colours keep their meaning).

binvox: header ``#binvox 1`` / ``dim`` / ``translate`` / ``scale`` / ``data`` followed by
run-length pairs (value, count <= 255) over the grid with x slowest, then z, y fastest. The
``dim`` line lists the grid in that storage order (x, z, y), which is how binvox readers
(binvox_rw, trimesh, the ``binvox`` package) reshape it; binvox's own tools only make cubes,
where the order is moot. ``translate`` = origin (x, y, z) and ``scale`` = voxel size times
the largest dimension, so spacing must be isotropic.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib import colormaps

from exporters._atomic import atomic_outputs, check_destination, write_error
from exporters._errors import ExportError
from exporters._validate import check_array, check_triple, minmax01

__all__ = ["MAGICAVOXEL_MAX", "magicavoxel_palette", "write_binvox", "write_magicavoxel"]

MAGICAVOXEL_MAX = 256


def _check_threshold(threshold: Any) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 <= value < 1.0:
        raise ExportError("must be a number in [0, 1)", param="threshold", value=threshold)
    return value


def magicavoxel_palette(cmap: str = "viridis") -> np.ndarray:
    """The 256 x RGBA uint8 palette chunk for a matplotlib colormap name.

    Entry k < 255 is ``cmap(k / 254)`` (colour index k + 1); entry 255 is unused (0, 0, 0, 0).
    """
    try:
        colormap = colormaps[cmap]
    except KeyError:
        raise ExportError("is not a matplotlib colormap", param="cmap", value=cmap) from None
    palette = np.zeros((256, 4), dtype=np.uint8)
    rgba = colormap(np.linspace(0.0, 1.0, 255))
    palette[:255] = np.rint(np.asarray(rgba) * 255.0).astype(np.uint8)
    palette[:255, 3] = 255
    return palette


def _maxpool(vol: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Max over non-overlapping blocks; the last block along an axis may be shorter."""
    pads = [(0, (-n) % f) for n, f in zip(vol.shape, factors, strict=True)]
    data = np.pad(vol.astype(np.float64), pads, constant_values=-np.inf)
    c, h, w = data.shape
    fc, fh, fw = factors
    return data.reshape(c // fc, fc, h // fh, fh, w // fw, fw).max(axis=(1, 3, 5))


def _chunk(cid: bytes, content: bytes, children: bytes = b"") -> bytes:
    return struct.pack("<4sii", cid, len(content), len(children)) + content + children


def write_magicavoxel(
    path: str | os.PathLike[str],
    volume: Any,
    *,
    threshold: float = 0.5,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    oversize: Literal["error", "downsample"] = "error",
    overwrite: bool = False,
) -> list[Path]:
    """Write a (C, H, W) volume as a MagicaVoxel ``.vox`` model coloured by a colormap.

    Parameters
    ----------
    path : str or path-like
        Output ``.vox`` file.
    volume : array_like of shape (C, H, W)
        Any real dtype, finite.
    threshold : float
        Voxels with normalized value <= threshold stay empty. The default 0.5 (mid-range, as
        binvox and CNN-VIS) keeps the strong half of the range: 0 would fill every voxel but
        the minimum, a solid box for a signed layer.
    cmap : str
        matplotlib colormap name.
    vmin, vmax : float, optional
        Normalization range (default: data range).
    oversize : {"error", "downsample"}
        What to do when an axis exceeds 256 voxels (see module docstring).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    list of Path
        ``[path]``.
    """
    vol = check_array(volume, param="volume", dtypes=None)
    thr = _check_threshold(threshold)
    palette = magicavoxel_palette(cmap)
    if oversize not in ("error", "downsample"):
        msg = "must be 'error' or 'downsample'"
        raise ExportError(msg, param="oversize", value=oversize)
    dest = check_destination(path, param="path", overwrite=overwrite)
    lo = float(vol.min()) if vmin is None else vmin
    hi = float(vol.max()) if vmax is None else vmax
    if max(vol.shape) > MAGICAVOXEL_MAX:
        if oversize == "error":
            msg = (
                f"of shape {vol.shape} is too large for MagicaVoxel (at most "
                f"{MAGICAVOXEL_MAX} per axis); pass {{oversize}} to max-pool it"
            )
            raise ExportError(msg, param="volume", refs={"oversize": "downsample"})
        vol = _maxpool(vol, tuple(-(-n // MAGICAVOXEL_MAX) for n in vol.shape))
    norm = minmax01(vol, lo, hi)
    cc, hh, ww = np.nonzero(norm > thr)
    index = (1 + np.rint(norm[cc, hh, ww] * 254.0)).astype(np.uint8)
    xyzi = np.stack([ww, hh, cc, index], axis=1).astype(np.uint8)  # x=col, y=row, z=channel
    c, h, w = vol.shape
    children = (
        _chunk(b"SIZE", struct.pack("<iii", w, h, c))
        + _chunk(b"XYZI", struct.pack("<i", len(xyzi)) + xyzi.tobytes())
        + _chunk(b"RGBA", palette.tobytes())
    )
    blob = b"VOX " + struct.pack("<i", 150) + _chunk(b"MAIN", b"", children)
    try:
        with atomic_outputs([dest]) as (tmp,):
            tmp.write_bytes(blob)
    except OSError as exc:
        raise write_error(exc, dest, param="path") from exc
    return [dest]


def _rle(flat: np.ndarray) -> bytes:
    """binvox run-length pairs (value, count) with 1 <= count <= 255."""
    starts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
    lengths = np.diff(np.append(starts, flat.size))
    values = flat[starts]
    pieces = -(-lengths // 255)  # runs split into ceil(len / 255) pairs
    counts = np.full(int(pieces.sum()), 255, dtype=np.int64)
    last = np.cumsum(pieces) - 1
    counts[last] = lengths - 255 * (pieces - 1)
    pairs = np.empty((counts.size, 2), dtype=np.uint8)
    pairs[:, 0] = np.repeat(values, pieces)
    pairs[:, 1] = counts
    return pairs.tobytes()


def write_binvox(
    path: str | os.PathLike[str],
    volume: Any,
    *,
    threshold: float = 0.5,
    vmin: float | None = None,
    vmax: float | None = None,
    spacing: Any = (1.0, 1.0, 1.0),
    origin: Any = (0.0, 0.0, 0.0),
    overwrite: bool = False,
) -> list[Path]:
    """Write the occupancy ``norm > threshold`` of a (C, H, W) volume as ``.binvox``.

    Parameters
    ----------
    path : str or path-like
        Output ``.binvox`` file.
    volume : array_like of shape (C, H, W)
        Any real dtype, finite.
    threshold : float
        In [0, 1) on the min-max normalized volume; 0.5 is CNN-VIS's mid-range binarization.
    vmin, vmax : float, optional
        Normalization range (default: data range).
    spacing : sequence of 3 float
        (C, H, W) order; must be isotropic (binvox has one scale).
    origin : sequence of 3 float
        (C, H, W) order; written as ``translate`` in x, y, z order.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    list of Path
        ``[path]``.
    """
    vol = check_array(volume, param="volume", dtypes=None)
    thr = _check_threshold(threshold)
    spc = check_triple(spacing, param="spacing", positive=True)
    org = check_triple(origin, param="origin", positive=False)
    if len(set(spc)) != 1:
        msg = "must be isotropic for binvox (one scale)"
        raise ExportError(msg, param="spacing", value=spacing)
    dest = check_destination(path, param="path", overwrite=overwrite)
    occupied = (minmax01(vol, vmin, vmax) > thr).astype(np.uint8)
    storage = occupied.transpose(2, 0, 1)  # (x, z, y) = (W, C, H): y fastest
    c, h, w = vol.shape
    header = (
        "#binvox 1\n"
        f"dim {w} {c} {h}\n"
        f"translate {org[2]!r} {org[1]!r} {org[0]!r}\n"
        f"scale {spc[0] * max(vol.shape)!r}\n"
        "data\n"
    ).encode("ascii")
    blob = header + _rle(np.ascontiguousarray(storage).ravel())
    try:
        with atomic_outputs([dest]) as (tmp,):
            tmp.write_bytes(blob)
    except OSError as exc:
        raise write_error(exc, dest, param="path") from exc
    return [dest]
