"""XDMF sidecar read back by VTK's own XDMF reader from a real HDF5 file."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import h5py
import numpy as np
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkMultiBlockDataSet
from vtkmodules.vtkIOXdmf2 import vtkXdmfReader

from exporters import ExportError, write_xdmf


def _read(path, time: float | None = None):
    reader = vtkXdmfReader()
    reader.SetFileName(str(path))
    reader.UpdateInformation()
    if time is None:
        reader.Update()
    else:
        reader.UpdateTimeStep(time)
    return reader.GetOutputDataObject(0)


def _array(image: vtkImageData, name: str) -> np.ndarray:
    w, h, c = image.GetDimensions()
    return vtk_to_numpy(image.GetPointData().GetArray(name)).reshape(c, h, w)


@pytest.fixture
def store(tmp_path, layer4d):
    path = tmp_path / "store.h5"
    agg = np.arange(4 * 2 * 6, dtype=np.float64).reshape(4, 2, 6)
    with h5py.File(path, "w") as f:
        f.create_dataset("/layers/features.0/activations", data=layer4d, chunks=(1, 1, 3, 7))
        f.create_dataset("/grads/agg", data=agg)
    return path, layer4d, agg


def test_one_image_per_time_step(tmp_path, store):
    h5, acts, _ = store
    out = write_xdmf(
        tmp_path / "store.xdmf",
        h5,
        [("/layers/features.0/activations", acts.shape, acts.dtype, "features.0")],
        spacing=(3.0, 2.0, 0.5),
        origin=(1.0, 2.0, 3.0),
    )
    for n in range(acts.shape[0]):
        image = _read(out, float(n))
        assert isinstance(image, vtkImageData)
        assert image.GetDimensions() == (7, 3, 5)  # x = W, y = H, z = C
        assert image.GetSpacing() == (0.5, 2.0, 3.0)
        assert image.GetOrigin() == (3.0, 2.0, 1.0)
        got = _array(image, "features.0")
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, acts[n])


def test_several_datasets_and_a_3d_one(tmp_path, store):
    h5, acts, agg = store
    (tmp_path / "sub").mkdir()
    out = write_xdmf(
        tmp_path / "sub" / "s.xdmf",
        h5,
        [
            ("/layers/features.0/activations", acts.shape, "float32", "act"),
            ("/grads/agg", agg.shape, np.float64, "agg"),
        ],
    )
    assert "../store.h5:/grads/agg" in out.read_text()  # relative to the sidecar
    blocks = _read(out, 1.0)
    assert isinstance(blocks, vtkMultiBlockDataSet)
    assert blocks.GetNumberOfBlocks() == 2
    np.testing.assert_array_equal(_array(blocks.GetBlock(0), "act"), acts[1])
    np.testing.assert_array_equal(_array(blocks.GetBlock(1), "agg"), agg)


def test_hyperslab_structure(tmp_path, store):
    h5, acts, _ = store
    out = write_xdmf(
        tmp_path / "s.xdmf", h5, [("/layers/features.0/activations", acts.shape, acts.dtype, "a")]
    )
    root = ET.parse(out).getroot()
    grids = root.findall("./Domain/Grid/Grid")
    assert len(grids) == 2
    topo = grids[1].find("Topology")
    assert topo.get("TopologyType") == "3DCoRectMesh" and topo.get("Dimensions") == "5 3 7"
    assert grids[1].find("Geometry").get("GeometryType") == "ORIGIN_DXDYDZ"
    slab = grids[1].find("Attribute/DataItem")
    assert slab.get("ItemType") == "HyperSlab" and slab.get("Dimensions") == "5 3 7"
    select, source = slab.findall("DataItem")
    assert [int(v) for v in select.text.split()] == [1, 0, 0, 0, 1, 1, 1, 1, 1, 5, 3, 7]
    assert source.get("Dimensions") == "2 5 3 7" and source.get("Format") == "HDF"


@pytest.mark.parametrize(
    ("datasets", "match"),
    [
        ([], r"datasets must be a non-empty list"),
        ([("/a", (2, 3), "float32", "a")], r"datasets\[0\] shape must be \(C, H, W\) or"),
        ([("/a", (1, 2, 3), "float16", "a")], r"datasets\[0\] dtype 'float16' cannot be"),
        ([("a", (1, 2, 3), "float32", "a")], r"must be an absolute HDF5 path, got 'a'"),
        ([("/a", (1, 2, 3), "float32")], r"datasets\[0\] must be \(h5 dataset path, shape"),
    ],
)
def test_bad_datasets(tmp_path, datasets, match):
    with pytest.raises(ExportError, match=match):
        write_xdmf(tmp_path / "x.xdmf", tmp_path / "s.h5", datasets)
    assert os.listdir(tmp_path) == []
