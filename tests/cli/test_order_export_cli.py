from __future__ import annotations

import json

import nrrd
import numpy as np
import pytest

from exporters import read_volume
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


@pytest.mark.slow
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
    np.testing.assert_array_equal(data, raw[order][::-1, ::-1, :])  # file order: rows, channels
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
    assert result.exit_code == 2 and "Error: --all-images: vti holds" in result.output
    assert not out.exists()
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


def test_export_names_the_array_after_the_layer(store_path, tmp_path):
    # ParaView names a NRRD's array after its first label and a .vti's after its scalars.
    from vtkmodules.vtkIOXML import vtkXMLImageDataReader

    for name in ("v.nrrd", "v.vti"):
        run("export", str(store_path), "--layer", "conv2", "-o", str(tmp_path / name))
    _, header = nrrd.read(str(tmp_path / "v.nrrd"))
    assert header["labels"][0] == "conv2" and header["content"] == "conv2"
    reader = vtkXMLImageDataReader()
    reader.SetFileName(str(tmp_path / "v.vti"))
    reader.Update()
    assert reader.GetOutput().GetPointData().GetScalars().GetName() == "conv2"


def test_export_keeps_the_image_order_asked_for(store_path, tmp_path):
    out = tmp_path / "ba.nii.gz"
    run(
        "export",
        str(store_path),
        "--layer",
        "conv1",
        "--image",
        "2",
        "--image",
        "0",
        "--image",
        "2",
        "-o",
        str(out),
    )
    got = read_volume(out)
    with Store(store_path) as store:
        raw = store.activations("conv1")[()]
        names = [r["name"] for r in store.inputs]
    np.testing.assert_array_equal(got.data, raw[[2, 0, 2]])
    assert got.metadata["volviz_images"] == ",".join(names[i] for i in (2, 0, 2))


def test_export_all_images_nrrd_refused_for_xdmf(store_path, tmp_path):
    out = tmp_path / "all.nrrd"
    result = run(
        "export", str(store_path), "--layer", "conv1", "--all-images", "-o", str(out), ok=False
    )
    assert result.exit_code == 2 and "--xdmf" in result.output and not out.exists()


def test_xdmf_applies_auto_spacing_per_layer(store_path, tmp_path):
    import xml.etree.ElementTree as ET

    from volviz.store.views import auto_spacing

    sidecar = tmp_path / "t.xdmf"
    run("export", str(store_path), "--xdmf", str(sidecar), "--spacing", "auto")
    root = ET.parse(sidecar).getroot()
    with Store(store_path) as store:
        shapes = {layer: store.activations(layer).shape[-3:] for layer in store.layers}
    assert auto_spacing(shapes["conv1"]) != (1.0, 1.0, 1.0)
    for series in root.findall("./Domain/Grid"):
        steps = series.find("Grid/Geometry").findall("DataItem")[1].text.split()
        sc, sh, sw = auto_spacing(shapes[series.get("Name")])
        assert [float(v) for v in steps] == [-sc, -sh, sw]


def test_export_magicavoxel_oversize_downsample(tiny, tmp_path):
    from pyvox.parser import VoxParser

    rng = np.random.default_rng(1)
    path = capture(
        tiny, torch_tensor(rng.normal(size=(1, 1, 300, 12))), tmp_path / "tall.h5", layers=["conv1"]
    )
    out = tmp_path / "v.vox"
    args = ["export", str(path), "--layer", "conv1", "--format", "magicavoxel", "-o", str(out)]
    refused = run(*args, ok=False)
    assert "--layer 'conv1' of shape (2, 299, 11) is too large" in refused.output
    assert "pass --oversize 'downsample'" in refused.output and not out.exists()
    run(*args, "--oversize", "downsample")
    (model,) = VoxParser(str(out)).parse().models
    with Store(path) as store:
        c, h, w = store.activations("conv1").shape[-3:]
    assert h > 256 and tuple(model.size) == (w, -(-h // 2), c)  # rows max-pooled by 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["-o", "{tmp}/v.vox"],
            "--out '{tmp}/v.vox': .vox is ambiguous; pass --format 'legacy-vox'",
        ),
        (["-o", "{tmp}/old.vti"], "--out '{tmp}/old.vti' already exists; pass --force"),
        (["--all-images", "-o", "{tmp}/a.vti"], "--all-images: vti holds one (C, H, W) volume"),
        (
            ["--all-images", "--format", "legacy-vox", "-o", "{tmp}/a.vox"],
            "--all-images: legacy-vox holds one (C, H, W) volume",
        ),
        (["--dtype", "float16", "-o", "{tmp}/h.vti"], "--dtype float16: only npy stores float16"),
        (
            ["--format", "binvox", "--threshold", "1.5", "-o", "{tmp}/t.binvox"],
            "--threshold 1.5 must be a number in [0, 1)",
        ),
        (
            ["--cmap", "nope", "--format", "magicavoxel", "-o", "{tmp}/c.vox"],
            "--cmap 'nope' is not",
        ),
    ],
)
def test_export_errors_name_the_options(store_path, tmp_path, args, words):
    """Exporter errors speak in the options the user typed, not in Python arguments."""
    (tmp_path / "old.vti").write_bytes(b"keep")
    before = sorted(tmp_path.iterdir())
    argv = [a.format(tmp=tmp_path) for a in args]
    result = run("export", str(store_path), "--layer", "conv1", *argv, ok=False)
    assert words.format(tmp=tmp_path) in result.output, result.output
    assert "=" not in result.output.split("Error:")[-1].split("'")[0]  # no fmt=, overwrite=
    assert sorted(tmp_path.iterdir()) == before and (tmp_path / "old.vti").read_bytes() == b"keep"


def test_export_nrrd_with_few_columns_says_paraview_misreads_it(tiny, tmp_path):
    rng = np.random.default_rng(2)
    x = torch_tensor(rng.normal(size=(1, 1, 9, 8)))
    path = capture(tiny, x, tmp_path / "narrow.h5", layers=["conv1"])
    out = run("export", str(path), "--layer", "conv1", "-o", str(tmp_path / "n.nrrd")).output
    assert "ParaView reads a NRRD with 7 (9 or fewer) columns as vector components" in out
    wide = run("export", str(path), "--layer", "conv1", "-o", str(tmp_path / "n.vti")).output
    assert "ParaView" not in wide
