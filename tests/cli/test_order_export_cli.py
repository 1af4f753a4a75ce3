from __future__ import annotations

import json

import nrrd
import numpy as np
import pytest

from tests.helpers import REFERENCE
from tests.helpers import run_cli as run
from volviz.capture.extract import capture
from volviz.store import Store, validate


@pytest.fixture
def store_path(tiny, tmp_path):
    rng = np.random.default_rng(0)
    x = torch_tensor(rng.normal(size=(3, 1, 9, 12)))
    return capture(tiny, x, tmp_path / "t.h5", layers=["conv1", "conv2"])


def torch_tensor(a):
    import torch

    return torch.tensor(a, dtype=torch.float32)


def test_order_stores_permutation_and_metrics(store_path):
    out = run("order", str(store_path), "--layer", "conv1", "--method", "olo").output
    assert "path / MST" in out and "conv1" in out
    with Store(store_path) as store:
        assert store.orderings("conv1") == ["olo"]
        stored = store.ordering("conv1", "olo")
        assert sorted(stored.order.tolist()) == [0, 1]
        assert stored.metrics["n_items"] == 2 and stored.images == "all"
    assert validate(store_path) == []
    again = run("order", str(store_path), "--layer", "conv1", "--method", "olo", ok=False)
    assert again.exit_code == 1 and "exists; pass --force" in again.output


def test_order_npy_json_reproduces_cnnvis_pca(tmp_path):
    vol = REFERENCE / "activations" / "conv1_cat.npy"
    out = run("order", "--npy", str(vol), "--method", "cnnvis-pca", "--json").output
    got = json.loads(out)
    legacy = np.fromfile(REFERENCE / "legacy-vox" / "vis_pca.vox", np.uint8).reshape(96, 55, 55)
    cat = np.load(vol)
    np.testing.assert_array_equal(np.rint(cat[got["order"]]).astype(np.uint8), legacy)
    assert round(got["metrics"]["path_length"]) == 42405
    assert round(got["metrics"]["original_path_length"]) == 51553


def test_order_bad_param_is_one_line(store_path):
    result = run(
        "order", str(store_path), "--method", "kmeans-row", "--param", "n_clusters=9", ok=False
    )
    assert result.exit_code == 1 and result.output.startswith("Error:")
    assert "n_clusters" in result.output and "Traceback" not in result.output


def test_export_applies_ordering_and_records_it(store_path, tmp_path):
    run("order", str(store_path), "--layer", "conv1", "--method", "tsp", "--name", "mine")
    with Store(store_path) as store:
        order = store.ordering("conv1", "mine").order
        raw = store.volume("conv1", 1)
    out = tmp_path / "v.nrrd"
    run(
        "export",
        str(store_path),
        "--layer",
        "conv1",
        "--image",
        "1",
        "--ordering",
        "mine",
        "-o",
        str(out),
    )
    data, header = nrrd.read(str(out), index_order="C")
    np.testing.assert_array_equal(data, raw[order])
    assert header["volviz_ordering"] == "mine"
    assert header["volviz_channel_order"] == " ".join(map(str, order))


def test_export_all_images_4d_and_uint8(store_path, tmp_path):
    out = tmp_path / "all.npy"
    run(
        "export",
        str(store_path),
        "--layer",
        "conv2",
        "--all-images",
        "--dtype",
        "uint8",
        "-o",
        str(out),
    )
    got = np.load(out)
    with Store(store_path) as store:
        raw = store.activations("conv2")[()]
    want = np.rint((raw - raw.min()) / (raw.max() - raw.min()) * 255).astype(np.uint8)
    np.testing.assert_array_equal(got, want)


def test_xdmf_sidecar_reads_back_in_vtk(store_path, tmp_path):
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkIOXdmf2 import vtkXdmfReader

    sidecar = tmp_path / "t.xdmf"
    run("export", str(store_path), "--xdmf", str(sidecar))
    reader = vtkXdmfReader()
    reader.SetFileName(str(sidecar))
    reader.UpdateInformation()
    reader.UpdateTimeStep(2.0)  # one grid per image; time = image index
    blocks = reader.GetOutputDataObject(0)
    names = [blocks.GetMetaData(i).Get(blocks.NAME()) for i in range(blocks.GetNumberOfBlocks())]
    image = blocks.GetBlock(names.index("conv1"))
    assert image.GetDimensions() == (11, 8, 2)
    got = vtk_to_numpy(image.GetPointData().GetArray("conv1")).reshape(2, 8, 11)
    with Store(store_path) as store:
        np.testing.assert_array_equal(got, store.volume("conv1", 2))


def test_export_errors_leave_nothing(store_path, tmp_path):
    out = tmp_path / "x.vti"
    result = run(
        "export", str(store_path), "--layer", "conv1", "--all-images", "-o", str(out), ok=False
    )
    assert result.exit_code == 1 and "Error:" in result.output and not out.exists()
    result = run(
        "export",
        str(store_path),
        "--layer",
        "conv1",
        "--ordering",
        "nope",
        "-o",
        str(out),
        ok=False,
    )
    assert "--ordering 'nope' is not stored" in result.output and not out.exists()


def test_heatmap_feature_grid_png_and_npy(store_path, tmp_path):
    from PIL import Image

    png = tmp_path / "g.png"
    run("heatmap", str(store_path), "--layer", "conv1", "--image", "2", "-o", str(png))
    pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert pixels.std() > 5
    with Store(store_path) as store:
        np.testing.assert_array_equal(np.load(png.with_suffix(".npy")), store.volume("conv1", 2))
