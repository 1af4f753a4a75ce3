"""NRRD (pynrrd) and NIfTI-1 (nibabel): 3-D volumes and 4-D layers over images.

The writers take the array already in file order (:func:`exporters.frame.to_file`) with its
file origin, both in (C, H, W) order. File axis 0 (fastest) = x = column (W), axis 1 = y,
axis 2 = z, axis 3 (4-D only) = image index (N); the direction is the identity in ITK's LPS
physical space, so 3D Slicer, ITK-SNAP, SimpleITK and ParaView put every voxel at the same
world point as the other formats (NIfTI stores RAS, so its affine negates x and y).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nibabel as nib
import nrrd
import numpy as np

from exporters._errors import ExportError

_NRRD_STANDARD = frozenset(
    [
        "type",
        "dimension",
        "space",
        "space dimension",
        "sizes",
        "space directions",
        "kinds",
        "endian",
        "encoding",
        "space origin",
        "labels",
        "units",
        "spacings",
        "thicknesses",
        "axis mins",
        "axis maxs",
        "centerings",
        "min",
        "max",
        "old min",
        "old max",
        "content",
        "sample units",
        "measurement frame",
        "byte skip",
        "line skip",
        "data file",
        "space units",
        "keyvaluepairs",
    ]
)
_NIFTI_MAX_DIM = 32767  # NIfTI-1 stores each dimension as int16
_NIFTI_COMMENT = 6  # NIfTI extension code "comment": our JSON metadata
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def write_nrrd(
    path: Path,
    data: np.ndarray,
    *,
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
    metadata: dict[str, str],
    name: str,
) -> None:
    """Write (C, H, W) or (N, C, H, W) as raw NRRD; metadata as ``key:=value`` pairs."""
    clash = sorted(k for k in metadata if k.lower() in _NRRD_STANDARD)
    if clash:
        msg = f"metadata key {clash[0]!r} collides with a NRRD header field"
        raise ExportError(msg)
    sc, sh, sw = spacing
    directions: list[list[float]] = [[sw, 0.0, 0.0], [0.0, sh, 0.0], [0.0, 0.0, sc]]
    kinds = ["domain", "domain", "domain"]
    # ParaView names the array after the first label: the layer, not an axis.
    labels = [name, "", ""]
    if data.ndim == 4:
        directions.append([np.nan, np.nan, np.nan])  # pynrrd writes a NaN row as "none"
        kinds.append("list")
        labels.append("")
    header: dict[str, Any] = {
        "space": "left-posterior-superior",
        "space directions": np.array(directions),
        "space origin": np.array([origin[2], origin[1], origin[0]]),
        "kinds": kinds,
        "labels": labels,
        "content": name,
        "encoding": "raw",
        "endian": "little",
    }
    header.update(metadata)
    nrrd.write(str(path), data, header, index_order="C")


def read_nrrd(path: Path) -> tuple[np.ndarray, dict[str, object]]:
    """Read a NRRD written by :func:`write_nrrd` as (C, H, W) or (N, C, H, W)."""
    data, header = nrrd.read(str(path), index_order="C")
    directions = np.asarray(header.get("space directions", np.eye(3)), dtype=float)[:3]
    steps = np.abs(np.nan_to_num(directions)).sum(axis=1)
    space_origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float)
    metadata = {k: str(v) for k, v in header.items() if k not in _NRRD_STANDARD}
    info: dict[str, object] = {
        "spacing": (float(steps[2]), float(steps[1]), float(steps[0])),
        "origin": (float(space_origin[2]), float(space_origin[1]), float(space_origin[0])),
        "name": str(header.get("content", "")),
        "metadata": metadata,
    }
    return np.ascontiguousarray(data), info


def check_nifti_shape(data: np.ndarray, *, param: str) -> None:
    """NIfTI-1 holds at most 32767 voxels per axis."""
    if max(data.shape) > _NIFTI_MAX_DIM:
        msg = (
            f"of shape {tuple(data.shape)} is too large for NIfTI-1, which allows "
            f"at most {_NIFTI_MAX_DIM} per axis"
        )
        raise ExportError(msg, param=param)


def write_nifti(
    path: Path,
    data: np.ndarray,
    *,
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
    metadata: dict[str, str],
    name: str,
) -> None:
    """Write (C, H, W) or (N, C, H, W) as NIfTI-1 (gzip when the name ends in .nii.gz).

    The array is handed to nibabel as (W, H, C[, N]) so voxel index i = x, j = y, k = z (and
    the 4th, "time", axis = image). NIfTI's world is RAS, ITK's LPS: the affine
    ``diag(-sW, -sH, sC)`` with translation ``(-oW, -oH, oC)`` is the identity direction in
    LPS, as the other formats. sform and qform code 1 (scanner); ``intent_name`` = ``name``.
    Metadata goes into a JSON "comment" extension and a truncated ``descrip``.
    """
    check_nifti_shape(data, param="volume")
    fortran = data.T  # (W, H, C[, N]) view of the C-order array: no copy
    affine = _LPS_TO_RAS @ np.diag([spacing[2], spacing[1], spacing[0], 1.0])
    affine[:3, 3] = _LPS_TO_RAS[:3, :3] @ [origin[2], origin[1], origin[0]]
    img = nib.Nifti1Image(fortran, affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    hdr = img.header
    hdr.set_xyzt_units(xyz="unknown", t="unknown")
    hdr.set_intent("none", name=name[:15])
    if metadata:
        text = json.dumps(metadata, sort_keys=True)
        hdr.extensions.append(nib.nifti1.Nifti1Extension(_NIFTI_COMMENT, text.encode("utf-8")))
        hdr["descrip"] = ("volviz " + text)[:79].encode("ascii", "replace")
    nib.save(img, str(path))


def read_nifti(path: Path) -> tuple[np.ndarray, dict[str, object]]:
    """Read a NIfTI written by :func:`write_nifti` back as (C, H, W) or (N, C, H, W)."""
    img = nib.load(str(path))
    if not isinstance(img, nib.Nifti1Image):
        msg = f"path={str(path)!r} is not a NIfTI-1 image"
        raise ExportError(msg)
    data = np.ascontiguousarray(np.asanyarray(img.dataobj).T)
    affine = _LPS_TO_RAS @ img.affine  # back to LPS (the matrix is its own inverse)
    steps = np.abs(affine[:3, :3]).sum(axis=0)
    metadata: dict[str, str] = {}
    for ext in img.header.extensions:
        if ext.get_code() == _NIFTI_COMMENT:
            try:
                loaded = json.loads(bytes(ext.content).decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(loaded, dict):
                metadata.update({str(k): str(v) for k, v in loaded.items()})
    info: dict[str, object] = {
        "spacing": (float(steps[2]), float(steps[1]), float(steps[0])),
        "origin": (float(affine[2, 3]), float(affine[1, 3]), float(affine[0, 3])),
        "name": str(img.header.get_intent()[2]),
        "metadata": metadata,
    }
    return data, info
