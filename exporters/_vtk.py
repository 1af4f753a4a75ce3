"""The exporters' one place that turns a (C, H, W) array into vtkImageData and back.

Channel is depth: ``dimensions = (W, H, C)``, x = column, y = row, z = channel, and the point
array is the C-order ravel of the volume (x fastest). Spacing and origin arrive in (C, H, W)
order and are reversed to VTK's (x, y, z).
"""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkStringArray
from vtkmodules.vtkCommonDataModel import vtkImageData

SCALARS_NAME = "values"


def to_image_data(
    volume: np.ndarray,
    *,
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
    name: str = SCALARS_NAME,
    metadata: dict[str, str] | None = None,
) -> vtkImageData:
    """Wrap a volume as vtkImageData (shares memory with ``volume``; keep it alive).

    Parameters
    ----------
    volume : ndarray of shape (C, H, W)
        C-contiguous volume.
    spacing, origin : tuple of 3 float
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
    c, h, w = volume.shape
    image = vtkImageData()
    image.SetDimensions(w, h, c)
    image.SetSpacing(spacing[2], spacing[1], spacing[0])
    image.SetOrigin(origin[2], origin[1], origin[0])
    arr = numpy_to_vtk(volume.ravel(order="C"), deep=False)
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
        ``spacing`` and ``origin`` in (C, H, W) order and ``metadata`` from string field data.
    """
    w, h, c = image.GetDimensions()
    scalars = image.GetPointData().GetScalars()
    if scalars is None:
        scalars = image.GetPointData().GetArray(0)
    volume = np.array(vtk_to_numpy(scalars)).reshape(c, h, w)
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
        "metadata": metadata,
    }
    return volume, info
