"""One entry point for voxel files: :func:`write_volume` (and :func:`read_volume`).

=============  =====================  ====  ==========================================
format         suffix                 4-D   metadata goes to
=============  =====================  ====  ==========================================
``vti``        .vti                   no    string arrays in the ImageData field data
``nrrd``       .nrrd                  yes   ``key:=value`` pairs
``nifti``      .nii, .nii.gz          yes   JSON "comment" extension (+ ``descrip``)
``mhd``        .mhd (+ .raw)          no    extra ``key = value`` header lines
``npy``        .npy                   yes   none (array only; float16 allowed)
``legacy-vox`` .vox (+ .hd)           no    none (bytes ``rint(minmax * 255)``)
``magicavoxel`` .vox                  no    none (palette-quantized occupancy)
``binvox``     .binvox                no    none (binary occupancy)
=============  =====================  ====  ==========================================

A volume is (C, H, W). vti, nrrd, nifti and mhd put voxel (channel, row, column) at the world
point of :func:`exporters.frame.world_point` (x = column, y = -row, z = -channel: row 0 at the
top and channel 0 in front in a +y-up view such as ParaView's default camera), the same point
in every format and reader; they store rows and channels reversed with an identity direction
(:mod:`exporters.frame` says why). ``.npy`` holds the (C, H, W) array as is. A layer over
images is (N, C, H, W), written where the format has a 4th axis: NRRD as a ``list`` axis,
NIfTI as its 4th ("time") axis, ``.npy`` as is. ``spacing`` and ``origin`` are given in
(C, H, W) order. ``name`` names the array where the format has an array name (vti scalars,
NRRD ``labels``/``content``, NIfTI ``intent_name``). ``.vox`` is ambiguous: pass ``fmt``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from exporters._atomic import atomic_outputs, check_destination, write_error
from exporters._errors import ExportError
from exporters._medical import read_nifti, read_nrrd, write_nifti, write_nrrd
from exporters._validate import STORABLE_DTYPES, check_array, check_metadata, check_triple
from exporters._vtkformats import read_mhd, read_vti, write_mhd, write_vti
from exporters.frame import from_file, to_file
from exporters.legacy import read_legacy_header, read_legacy_vox, write_legacy_vox
from exporters.voxels import write_binvox, write_magicavoxel

__all__ = ["FORMATS", "VolumeFile", "format_from_path", "read_volume", "write_volume"]

Format = Literal["vti", "nrrd", "nifti", "mhd", "npy", "legacy-vox", "magicavoxel", "binvox"]

#: Format name -> accepted suffixes (first is the canonical one).
FORMATS: dict[str, tuple[str, ...]] = {
    "vti": (".vti",),
    "nrrd": (".nrrd",),
    "nifti": (".nii.gz", ".nii"),
    "mhd": (".mhd",),
    "npy": (".npy",),
    "legacy-vox": (".vox",),
    "magicavoxel": (".vox",),
    "binvox": (".binvox",),
}
_FOUR_D = frozenset({"nrrd", "nifti", "npy"})
_EXACT = frozenset({"vti", "nrrd", "nifti", "mhd", "npy"})
_NPY_DTYPES: frozenset[np.dtype[Any]] = STORABLE_DTYPES | {
    np.dtype(t) for t in ("float16", "int64", "uint64")
}


@dataclass(frozen=True)
class VolumeFile:
    """A volume read back from disk.

    Attributes
    ----------
    data : ndarray of shape (C, H, W) or (N, C, H, W)
    spacing, origin : tuple of 3 float
        In (C, H, W) order.
    metadata : dict of str to str
    fmt : str
    name : str
        The array name, where the format has one ("" otherwise).
    """

    data: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    metadata: dict[str, str] = field(default_factory=dict)
    fmt: str = "npy"
    name: str = ""


def format_from_path(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """Resolve the format name from ``fmt`` or the file suffix.

    Raises
    ------
    ExportError
        Unknown ``fmt``, unknown suffix, a suffix that does not fit ``fmt``, or ``.vox``
        without ``fmt``.
    """
    name = Path(path).name.lower()
    if fmt is not None:
        if fmt not in FORMATS:
            msg = f"is not a known format; choose one of {', '.join(FORMATS)}"
            raise ExportError(msg, param="fmt", value=fmt)
        if not name.endswith(FORMATS[fmt]):
            msg = f"does not end in {' or '.join(FORMATS[fmt])} for {{fmt}}"
            raise ExportError(msg, param="path", value=path, refs={"fmt": fmt})
        return fmt
    if name.endswith(".vox"):
        msg = ": .vox is ambiguous; pass {fmt} or 'magicavoxel'"
        raise ExportError(msg, param="path", value=path, refs={"fmt": "legacy-vox"})
    for candidate, suffixes in FORMATS.items():
        if name.endswith(suffixes):
            return candidate
    known = sorted({s for suffixes in FORMATS.values() for s in suffixes})
    msg = f"has an unknown suffix; use one of {', '.join(known)}"
    raise ExportError(msg, param="path", value=path)


def _write_npy(path: Path, data: np.ndarray, **_: Any) -> None:
    np.save(path, data, allow_pickle=False)


_EXACT_WRITERS: dict[str, Callable[..., None]] = {
    "vti": write_vti,
    "nrrd": write_nrrd,
    "nifti": write_nifti,
    "npy": _write_npy,
}


def write_volume(
    path: str | os.PathLike[str],
    volume: Any,
    *,
    fmt: Format | None = None,
    spacing: Any = (1.0, 1.0, 1.0),
    origin: Any = (0.0, 0.0, 0.0),
    metadata: Mapping[str, str] | None = None,
    name: str = "values",
    overwrite: bool = False,
    **options: Any,
) -> list[Path]:
    """Write a volume (or a layer over images) to a voxel file; nothing is left on failure.

    Parameters
    ----------
    path : str or path-like
        Output file; its suffix picks the format unless ``fmt`` is given.
    volume : array_like of shape (C, H, W), or (N, C, H, W) for nrrd, nifti and npy
        float32/float64/(u)int8/16/32 (npy also float16 and 64-bit ints); finite. ParaView
        shows only the first image of a 4-D NRRD: for ParaView use :func:`write_xdmf`.
    fmt : str, optional
        One of ``FORMATS``; required for ``.vox``.
    spacing : sequence of 3 float
        Voxel size in (C, H, W) order, positive.
    origin : sequence of 3 float
        Position of voxel (0, 0, 0) in (C, H, W) order.
    metadata : mapping of str to str, optional
        E.g. layer, image, normalization, ordering; written where the format has a place.
    name : str
        Array name (the layer) in formats that name their array: vti, nrrd, nifti.
    overwrite : bool
        Replace existing files.
    **options
        Format-specific keywords of :func:`~exporters.write_magicavoxel`,
        :func:`~exporters.write_binvox` and :func:`~exporters.write_legacy_vox`
        (threshold, cmap, vmin, vmax, oversize).

    Returns
    -------
    list of Path
        Every file written (two for mhd and legacy-vox).

    Raises
    ------
    ExportError
        Bad input; the message names the parameter and echoes the value.
    """
    kind = format_from_path(path, fmt)
    meta = check_metadata(metadata)
    spc = check_triple(spacing, param="spacing", positive=True)
    org = check_triple(origin, param="origin", positive=False)
    if kind not in _EXACT:
        return _write_quantized(kind, path, volume, spc, org, overwrite, options)
    if options:
        msg = f"takes no option {sorted(options)[0]!r}"
        raise ExportError(msg, param="fmt", value=kind)
    ndims = (3, 4) if kind in _FOUR_D else (3,)
    layout = "(C, H, W) or (N, C, H, W)" if kind in _FOUR_D else "(C, H, W)"
    dtypes = _NPY_DTYPES if kind == "npy" else STORABLE_DTYPES
    vol = check_array(volume, param="volume", ndims=ndims, layout=layout, dtypes=dtypes)
    label = _check_name(name)
    dest = check_destination(path, param="path", overwrite=overwrite)
    dests = [dest]
    if kind == "mhd":
        dests.append(check_destination(dest.with_suffix(".raw"), param="path", overwrite=overwrite))
    if kind != "npy":
        vol, org = to_file(vol, spc, org)
    try:
        with atomic_outputs(dests) as temps:
            target: Any = (temps[0], temps[1]) if kind == "mhd" else temps[0]
            writer = write_mhd if kind == "mhd" else _EXACT_WRITERS[kind]
            writer(target, vol, spacing=spc, origin=org, metadata=meta, name=label)
    except OSError as exc:
        raise write_error(exc, dest, param="path") from exc
    return dests


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or not name.isprintable() or '"' in name:
        raise ExportError(
            "must be a non-empty printable str without quotes", param="name", value=name
        )
    return name


def _write_quantized(
    kind: str,
    path: str | os.PathLike[str],
    volume: Any,
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
    overwrite: bool,
    options: dict[str, Any],
) -> list[Path]:
    allowed = {
        "legacy-vox": {"vmin", "vmax"},
        "magicavoxel": {"threshold", "cmap", "vmin", "vmax", "oversize"},
        "binvox": {"threshold", "vmin", "vmax"},
    }[kind]
    unknown = sorted(set(options) - allowed)
    if unknown:
        msg = f"takes no option {unknown[0]!r}; it takes {', '.join(sorted(allowed))}"
        raise ExportError(msg, param="fmt", value=kind)
    if kind == "legacy-vox":
        return write_legacy_vox(path, volume, spacing=spacing, overwrite=overwrite, **options)
    if kind == "magicavoxel":
        return write_magicavoxel(path, volume, overwrite=overwrite, **options)
    return write_binvox(
        path, volume, spacing=spacing, origin=origin, overwrite=overwrite, **options
    )


def read_volume(path: str | os.PathLike[str], *, fmt: Format | None = None) -> VolumeFile:
    """Read a file written by :func:`write_volume` (exact formats and legacy-vox).

    Parameters
    ----------
    path : str or path-like
        A .vti, .nrrd, .nii(.gz), .mhd, .npy file, or a legacy .vox (with ``fmt``).
    fmt : str, optional
        Format name; default from the suffix.

    Returns
    -------
    VolumeFile
        Data as (C, H, W) or (N, C, H, W) with spacing/origin in (C, H, W) order.
    """
    kind = format_from_path(path, fmt)
    src = Path(path)
    if kind in ("magicavoxel", "binvox"):
        msg = "is quantized occupancy; read_volume reads exact formats only"
        raise ExportError(msg, param="fmt", value=kind)
    if not src.is_file():
        raise ExportError("does not exist", param="path", value=path)
    if kind == "legacy-vox":
        header = read_legacy_header(src.with_suffix(".hd"))
        return VolumeFile(read_legacy_vox(src), header.spacing, fmt=kind)
    if kind == "npy":
        return VolumeFile(np.load(src, allow_pickle=False), fmt=kind)
    reader = {"vti": read_vti, "nrrd": read_nrrd, "nifti": read_nifti, "mhd": read_mhd}[kind]
    stored, info = reader(src)
    spacing: tuple[float, float, float] = info["spacing"]  # type: ignore[assignment]
    data, origin = from_file(stored, spacing, info["origin"])  # type: ignore[arg-type]
    return VolumeFile(
        data,
        spacing,
        origin,
        info["metadata"],  # type: ignore[arg-type]
        fmt=kind,
        name=str(info.get("name", "")),
    )
