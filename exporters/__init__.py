"""Exporters: arrays and plain metadata in, files out (no torch, no volviz).

Voxel files (:func:`write_volume` for .vti, .nrrd, .nii(.gz), .mhd + .raw, .npy, legacy
CNN-VIS .vox + .hd, MagicaVoxel .vox, .binvox), an XDMF sidecar for volumes inside an HDF5
file (:func:`write_xdmf`), and 2-D PNG exports (:func:`feature_grid`, :func:`filter_grid`,
:func:`gradient_grid`, :func:`heatmap_overlay`). A volume is a (C, H, W) array: x = column,
y = row, z = channel everywhere. Bad input raises :class:`ExportError` and leaves no file.
"""

from __future__ import annotations

from exporters._errors import ExportError
from exporters.figures import feature_grid, filter_grid, gradient_grid, heatmap_overlay
from exporters.legacy import LegacyHeader, read_legacy_header, read_legacy_vox, write_legacy_vox
from exporters.volumes import FORMATS, VolumeFile, format_from_path, read_volume, write_volume
from exporters.voxels import MAGICAVOXEL_MAX, magicavoxel_palette, write_binvox, write_magicavoxel
from exporters.xdmf import write_xdmf

__all__ = [
    "FORMATS",
    "MAGICAVOXEL_MAX",
    "ExportError",
    "LegacyHeader",
    "VolumeFile",
    "feature_grid",
    "filter_grid",
    "format_from_path",
    "gradient_grid",
    "heatmap_overlay",
    "magicavoxel_palette",
    "read_legacy_header",
    "read_legacy_vox",
    "read_volume",
    "write_binvox",
    "write_legacy_vox",
    "write_magicavoxel",
    "write_volume",
    "write_xdmf",
]
