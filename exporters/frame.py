"""Axes and world space of every export: the one owner of the (C, H, W) -> VTK axis rule.

Axis rule (VTK, shared with volviz's renderer)
    A (C, H, W) volume is ``vtkImageData`` with ``dimensions = (W, H, C)``: x = column,
    y = row, z = channel, point array = the C-order ravel (x fastest). :func:`vtk_geometry`,
    :func:`vtk_values` and :func:`volume_from_values` are that rule.

World frame (every file format, see docs/format.md "World space and orientation")
    With the array frame ``a = origin + index * spacing`` in (C, H, W) order, voxel
    (channel, row, column) sits at world ``(x, y, z) = (a_W, -a_H, -a_C)``: columns run to +x,
    rows to -y, channels to -z (a proper rotation of the array frame). In a viewer that looks
    down -z with +y up (ParaView's default camera) a map reads like ``volviz render``'s picture:
    row 0 at the top, column 0 on the left, channel 0 in front. Coordinates are ITK's (LPS)
    physical coordinates, the ones SimpleITK, 3D Slicer and ITK-SNAP report.

Files keep the identity direction and store rows and channels in reverse (file index
``(i, j, k) = (column, H - 1 - row, C - 1 - channel)``) with the origin at voxel
``(C - 1, H - 1, 0)``: ParaView's NRRD and MetaImage readers ignore (or misread) a direction
matrix, so only this layout puts every voxel at the same world point in every reader.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Triple = tuple[float, float, float]

__all__ = [
    "file_order",
    "from_file",
    "to_file",
    "volume_from_values",
    "vtk_geometry",
    "vtk_values",
    "world_point",
]


def vtk_geometry(
    shape: Sequence[int], spacing: Sequence[float], origin: Sequence[float]
) -> tuple[tuple[int, int, int], Triple, Triple]:
    """VTK's (x, y, z) dimensions, spacing and origin of a (C, H, W) volume.

    Parameters
    ----------
    shape : sequence of 3 int
        (C, H, W).
    spacing, origin : sequence of 3 float
        In (C, H, W) order.

    Returns
    -------
    dimensions : (W, H, C)
    spacing, origin : tuple of 3 float
        In (x, y, z) = (column, row, channel) order.
    """
    c, h, w = (int(s) for s in shape)
    step = (float(spacing[2]), float(spacing[1]), float(spacing[0]))
    corner = (float(origin[2]), float(origin[1]), float(origin[0]))
    return (w, h, c), step, corner


def vtk_values(volume: np.ndarray) -> np.ndarray:
    """The point (or cell) array of a (C, H, W) volume: its C-order ravel, x = column fastest."""
    return np.ravel(volume, order="C")


def volume_from_values(values: np.ndarray, dimensions: Sequence[int]) -> np.ndarray:
    """The inverse of :func:`vtk_values`: a VTK array of ``dimensions`` (W, H, C) as (C, H, W)."""
    w, h, c = (int(d) for d in dimensions)
    return np.asarray(values).reshape(c, h, w)


def world_point(index: Sequence[int], spacing: Sequence[float], origin: Sequence[float]) -> Triple:
    """World (x, y, z) of voxel ``index`` = (channel, row, column); spacing, origin in (C, H, W)."""
    a = [float(o) + int(i) * float(s) for i, s, o in zip(index, spacing, origin, strict=True)]
    return (a[2], -a[1], -a[0])


def file_order(data: np.ndarray) -> np.ndarray:
    """Rows and channels reversed (the last three axes are C, H, W): a view, its own inverse."""
    return data[..., ::-1, ::-1, :]


def to_file(
    data: np.ndarray, spacing: Sequence[float], origin: Sequence[float]
) -> tuple[np.ndarray, Triple]:
    """The array a file stores and its origin, in (C, H, W) order as the writers take it.

    Parameters
    ----------
    data : ndarray of shape (C, H, W) or (N, C, H, W)
    spacing, origin : sequence of 3 float
        The volume's, in (C, H, W) order.

    Returns
    -------
    stored : ndarray
        C-contiguous copy in file order (:func:`file_order`).
    file_origin : tuple of 3 float
        World position of file index (0, 0, 0), listed (z, y, x) like a (C, H, W) triple.
    """
    c, h, _ = data.shape[-3:]
    x, y, z = world_point((c - 1, h - 1, 0), spacing, origin)
    return np.ascontiguousarray(file_order(data)), (z, y, x)


def from_file(
    stored: np.ndarray, spacing: Sequence[float], file_origin: Sequence[float]
) -> tuple[np.ndarray, Triple]:
    """The inverse of :func:`to_file`: the volume and its (C, H, W) origin."""
    c, h, _ = stored.shape[-3:]
    z, y, x = (float(v) for v in file_origin)
    origin = (-z - (c - 1) * float(spacing[0]), -y - (h - 1) * float(spacing[1]), x)
    return np.ascontiguousarray(file_order(stored)), origin
