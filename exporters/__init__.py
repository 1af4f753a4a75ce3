"""Exporters: arrays and plain metadata in, files out (no torch, no volviz).

Voxel files (:func:`write_volume` for .vti, .nrrd, .nii(.gz), .mhd + .raw, .npy, legacy
CNN-VIS .vox + .hd, MagicaVoxel .vox, .binvox), an XDMF sidecar for volumes inside an HDF5
file (:func:`write_xdmf`), and 2-D PNG exports (:func:`feature_grid`, :func:`filter_grid`,
:func:`gradient_grid`, :func:`heatmap_overlay`). A volume is a (C, H, W) array: x = column,
y = row, z = channel everywhere; :mod:`exporters.frame` owns that rule and the world frame
of the files. Bad input raises :class:`ExportError` and leaves no file.

Names load on first use, so ``import exporters.frame`` (volviz's renderer) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exporters._atomic import atomic_file, remove_stale_temporaries
    from exporters._errors import ExportError
    from exporters.figures import feature_grid, filter_grid, gradient_grid, heatmap_overlay
    from exporters.frame import volume_from_values, vtk_geometry, vtk_values, world_point
    from exporters.legacy import (
        LegacyHeader,
        read_legacy_header,
        read_legacy_vox,
        write_legacy_vox,
    )
    from exporters.volumes import FORMATS, VolumeFile, format_from_path, read_volume, write_volume
    from exporters.voxels import (
        MAGICAVOXEL_MAX,
        magicavoxel_palette,
        write_binvox,
        write_magicavoxel,
    )
    from exporters.xdmf import write_xdmf

_HOME = {
    "ExportError": "_errors",
    "atomic_file": "_atomic",
    "remove_stale_temporaries": "_atomic",
    "feature_grid": "figures",
    "filter_grid": "figures",
    "gradient_grid": "figures",
    "heatmap_overlay": "figures",
    "volume_from_values": "frame",
    "vtk_geometry": "frame",
    "vtk_values": "frame",
    "world_point": "frame",
    "LegacyHeader": "legacy",
    "read_legacy_header": "legacy",
    "read_legacy_vox": "legacy",
    "write_legacy_vox": "legacy",
    "FORMATS": "volumes",
    "VolumeFile": "volumes",
    "format_from_path": "volumes",
    "read_volume": "volumes",
    "write_volume": "volumes",
    "MAGICAVOXEL_MAX": "voxels",
    "magicavoxel_palette": "voxels",
    "write_binvox": "voxels",
    "write_magicavoxel": "voxels",
    "write_xdmf": "xdmf",
}

__all__ = [
    "FORMATS",
    "MAGICAVOXEL_MAX",
    "ExportError",
    "LegacyHeader",
    "VolumeFile",
    "atomic_file",
    "feature_grid",
    "filter_grid",
    "format_from_path",
    "gradient_grid",
    "heatmap_overlay",
    "magicavoxel_palette",
    "read_legacy_header",
    "read_legacy_vox",
    "read_volume",
    "remove_stale_temporaries",
    "volume_from_values",
    "vtk_geometry",
    "vtk_values",
    "world_point",
    "write_binvox",
    "write_legacy_vox",
    "write_magicavoxel",
    "write_volume",
    "write_xdmf",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        msg = f"module 'exporters' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"exporters.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
