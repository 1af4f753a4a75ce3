"""(C, H, W) arrays as vtkImageData and back, by the axis rule of :mod:`exporters.frame`.

Channel is depth: ``dimensions = (W, H, C)``, x = column, y = row, z = channel, and the point
array is the C-order ravel of the volume (x fastest). Spacing and origin arrive in (C, H, W)
order and are reversed to VTK's (x, y, z).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkStringArray
from vtkmodules.vtkCommonDataModel import vtkImageData

from exporters.frame import volume_from_values, vtk_geometry, vtk_values

SCALARS_NAME = "values"


def to_image_data(
    volume: np.ndarray,
    *,
    spacing: Sequence[float],
    origin: Sequence[float],
    name: str = SCALARS_NAME,
    metadata: dict[str, str] | None = None,
) -> vtkImageData:
    """Wrap a volume as vtkImageData (shares memory with ``volume``; keep it alive).

    Parameters
    ----------
    volume : ndarray of shape (C, H, W)
        C-contiguous volume.
    spacing, origin : sequence of 3 float
        In (C, H, W) order.
    name : str
        Name of the point-data scalars.
    metadata : dict of str to str, optional
        Stored as one-value string arrays in the field data.

    Returns
    -------
    vtkImageData
        ``dimensions == (W, H, C)``.
    """
    dims, step, corner = vtk_geometry(volume.shape, spacing, origin)
    image = vtkImageData()
    image.SetDimensions(*dims)
    image.SetSpacing(*step)
    image.SetOrigin(*corner)
    arr = numpy_to_vtk(vtk_values(volume), deep=False)
    arr.SetName(name)
    image.GetPointData().SetScalars(arr)
    for key, value in (metadata or {}).items():
        field = vtkStringArray()
        field.SetName(key)
        field.InsertNextValue(value)
        image.GetFieldData().AddArray(field)
    return image


def from_image_data(image: vtkImageData) -> tuple[np.ndarray, dict[str, object]]:
    """Read the scalars of vtkImageData back as a (C, H, W) array.

    Returns
    -------
    volume : ndarray of shape (C, H, W)
        A copy of the point scalars.
    info : dict
        ``spacing`` and ``origin`` in (C, H, W) order, ``name`` of the scalars and
        ``metadata`` from string field data.
    """
    scalars = image.GetPointData().GetScalars()
    if scalars is None:
        scalars = image.GetPointData().GetArray(0)
    volume = np.array(volume_from_values(vtk_to_numpy(scalars), image.GetDimensions()))
    sx, sy, sz = image.GetSpacing()
    ox, oy, oz = image.GetOrigin()
    metadata: dict[str, str] = {}
    fields = image.GetFieldData()
    for i in range(fields.GetNumberOfArrays()):
        field = fields.GetAbstractArray(i)
        if isinstance(field, vtkStringArray) and field.GetNumberOfValues() == 1:
            metadata[field.GetName()] = field.GetValue(0)
    info: dict[str, object] = {
        "spacing": (sz, sy, sx),
        "origin": (oz, oy, ox),
        "name": scalars.GetName(),
        "metadata": metadata,
    }
    return volume, info
