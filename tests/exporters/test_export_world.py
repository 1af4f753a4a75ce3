"""Every voxel format puts voxel (channel, row, column) at the same world point.

Checked with readers no one here wrote: SimpleITK's index-to-world mapping (what 3D Slicer and
ITK-SNAP use, LPS) for NRRD, MetaImage and NIfTI, and VTK's own XML reader for .vti. The
volume's channels, rows and columns all differ in length and its values are all distinct, so
a swapped or flipped axis lands a different value at the point.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkIOXML import vtkXMLImageDataReader

from exporters import world_point, write_volume

SPACING = (3.0, 2.0, 0.5)  # (C, H, W)
ORIGIN = (10.0, 20.0, 30.0)
ITK_NAMES = ["v.nrrd", "v.mhd", "v.nii", "v.nii.gz"]


@pytest.fixture
def asymmetric() -> np.ndarray:
    """(C, H, W) = (4, 6, 11), values 0..263 in C order: every voxel tells where it is."""
    return np.arange(4 * 6 * 11, dtype=np.float32).reshape(4, 6, 11)


def _voxels(shape):
    c, h, w = shape
    return list(itertools.product((0, 1, c - 1), (0, 2, h - 1), (0, 3, w - 1)))


def test_world_frame_rule():
    # x = column, y = -row, z = -channel: row 0 on top and channel 0 in front in a +y-up view
    assert world_point((2, 3, 4), SPACING, ORIGIN) == (32.0, -26.0, -16.0)


@pytest.mark.parametrize("name", ITK_NAMES)
def test_itk_index_to_world_is_the_world_frame(tmp_path, asymmetric, name):
    write_volume(tmp_path / name, asymmetric, spacing=SPACING, origin=ORIGIN)
    image = sitk.ReadImage(str(tmp_path / name))
    assert image.GetSize() == (11, 6, 4)
    assert image.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    values = sitk.GetArrayViewFromImage(image)  # indexed [k, j, i]
    for voxel in _voxels(asymmetric.shape):
        point = world_point(voxel, SPACING, ORIGIN)
        i, j, k = image.TransformPhysicalPointToIndex(point)
        assert values[k, j, i] == asymmetric[voxel], (name, voxel, point)
        assert image.TransformIndexToPhysicalPoint((i, j, k)) == pytest.approx(point)


def test_all_formats_agree_in_world_space(tmp_path, asymmetric):
    """Loaded together (3D Slicer, ITK-SNAP) the files overlay voxel for voxel."""
    geometry = set()
    for name in ITK_NAMES:
        write_volume(tmp_path / name, asymmetric, spacing=SPACING, origin=ORIGIN)
        image = sitk.ReadImage(str(tmp_path / name))
        geometry.add((image.GetOrigin(), image.GetSpacing(), image.GetDirection()))
        np.testing.assert_array_equal(
            sitk.GetArrayFromImage(image),
            sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / ITK_NAMES[0]))),
        )
    assert len(geometry) == 1


def test_vti_world_points_match(tmp_path, asymmetric):
    (path,) = write_volume(tmp_path / "v.vti", asymmetric, spacing=SPACING, origin=ORIGIN)
    reader = vtkXMLImageDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    values = vtk_to_numpy(image.GetPointData().GetScalars())
    for voxel in _voxels(asymmetric.shape):
        point = world_point(voxel, SPACING, ORIGIN)
        found = image.FindPoint(point)
        assert image.GetPoint(found) == pytest.approx(point)
        assert values[found] == asymmetric[voxel]
