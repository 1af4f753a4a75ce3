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
    out, views = write_xdmf(
        tmp_path / "store.xdmf",
        h5,
        [("/layers/features.0/activations", acts.shape, acts.dtype, "features.0")],
        spacing=(3.0, 2.0, 0.5),
        origin=(1.0, 2.0, 3.0),
    )
    assert views.name == "store.xdmf.h5"
    for n in range(acts.shape[0]):
        image = _read(out, float(n))
        assert isinstance(image, vtkImageData)
        assert image.GetDimensions() == (7, 3, 5)  # x = W, y = H, z = C
        # world frame: x = column, y = -row, z = -channel (row 0 on top, channel 0 in front)
        assert image.GetSpacing() == (0.5, -2.0, -3.0)
        assert image.GetOrigin() == (3.0, -2.0, -1.0)
        got = _array(image, "features.0")
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, acts[n])


def test_several_datasets_and_a_3d_one(tmp_path, store, monkeypatch):
    h5, acts, agg = store
    (tmp_path / "sub").mkdir()
    out, views = write_xdmf(
        tmp_path / "sub" / "s.xdmf",
        h5,
        [
            ("/layers/features.0/activations", acts.shape, "float32", "act"),
            ("/grads/agg", agg.shape, np.float64, "agg", (1.0, 2.0, 4.0)),
        ],
    )
    with h5py.File(views) as f:  # virtual datasets, sources named relative to the views file
        assert f["1/volume"].is_virtual
        assert f["1/volume"].virtual_sources()[0].file_name == "../store.h5"
        assert f["0/1"].virtual_sources()[0].dset_name == "/layers/features.0/activations"
    monkeypatch.chdir(tmp_path.parent)  # sources resolve from the views file, not the cwd
    blocks = _read(out, 1.0)
    assert isinstance(blocks, vtkMultiBlockDataSet)
    assert blocks.GetNumberOfBlocks() == 2
    np.testing.assert_array_equal(_array(blocks.GetBlock(0), "act"), acts[1])
    np.testing.assert_array_equal(_array(blocks.GetBlock(1), "agg"), agg)
    assert blocks.GetBlock(1).GetSpacing() == (4.0, -2.0, -1.0)  # the entry's own spacing


def test_plain_3d_items_no_hyperslab(tmp_path, store):
    # The Xdmf3 readers (ParaView's default) skip HyperSlab items: plain 3-D items only.
    h5, acts, _ = store
    out, _ = write_xdmf(
        tmp_path / "s.xdmf", h5, [("/layers/features.0/activations", acts.shape, acts.dtype, "a")]
    )
    root = ET.parse(out).getroot()
    grids = root.findall("./Domain/Grid/Grid")
    assert len(grids) == 2
    topo = grids[1].find("Topology")
    assert topo.get("TopologyType") == "3DCoRectMesh" and topo.get("Dimensions") == "5 3 7"
    assert grids[1].find("Geometry").get("GeometryType") == "ORIGIN_DXDYDZ"
    assert root.find(".//DataItem[@ItemType='HyperSlab']") is None
    item = grids[1].find("Attribute/DataItem")
    assert item.get("Dimensions") == "5 3 7" and item.get("Format") == "HDF"
    assert item.text == "s.xdmf.h5:/0/1"


@pytest.mark.parametrize(
    ("datasets", "match"),
    [
        ([], r"datasets must be a non-empty list"),
        ([("/a", (2, 3), "float32", "a")], r"datasets\[0\] shape must be \(C, H, W\) or"),
        ([("/a", (1, 2, 3), "float16", "a")], r"datasets\[0\] dtype 'float16' cannot be"),
        ([("a", (1, 2, 3), "float32", "a")], r"must be an absolute HDF5 path, got 'a'"),
        ([("/a", (1, 2, 3), "float32")], r"datasets\[0\] must be \(h5 dataset path, shape"),
        ([("/a", (1, 2, 3), "float32", "a", (0, 1, 1))], r"datasets\[0\] spacing=\(0, 1, 1\) must"),
    ],
)
def test_bad_datasets(tmp_path, datasets, match):
    with pytest.raises(ExportError, match=match):
        write_xdmf(tmp_path / "x.xdmf", tmp_path / "s.h5", datasets)
    assert os.listdir(tmp_path) == []
