from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tests.helpers import REFERENCE
from tests.helpers import error_line as one_error_line
from tests.helpers import run_cli as run
from volviz.store import Store, validate
from volviz.store.results import (
    attribution_runs,
    gradient_volume,
    read_attribution,
    read_gradient_run,
)

IMAGES = REFERENCE / "images"


@pytest.fixture(scope="module")
def grads(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grads")
    store = folder / "g.h5"
    run("-q", "gradients", "sample:coffee", "-o", store, "-t", "espresso", "--out", folder / "png")
    return store


@pytest.mark.slow
def test_gradients_store_layout_and_exports(grads):
    assert validate(grads) == []
    with h5py.File(grads) as f:
        run_ = read_gradient_run(f, "espresso")
        group = f["gradients/espresso/_conv_stem/per_image"]
        assert group.attrs["volviz-encoding"] == "gradient-per-image"
    layer = run_["layers"]["_conv_stem"]
    assert layer["per_image"].shape == (1, 32, 3, 3, 3) and layer["per_image"].dtype == np.float32
    np.testing.assert_allclose(layer["sum"], layer["per_image"][0])
    np.testing.assert_allclose(layer["mean"], layer["sum"])
    attrs = run_["attrs"]
    assert attrs["target"]["classes"] == [967] and attrs["score"] == "log_softmax"
    assert attrs["strategy"] == "loop" and attrs["images"] == [0]
    assert layer["attrs"]["module_type"] == "Conv2dStaticSamePadding"
    assert run_["class_index"].tolist() == [967]
    png = grads.parent / "png"
    assert {p.name for p in png.iterdir()} == {
        "espresso__conv_stem.png",
        "espresso__conv_stem.npy",
        "espresso__conv_stem.vti",
    }
    np.testing.assert_allclose(
        np.load(png / "espresso__conv_stem.npy"),
        gradient_volume(layer["mean"], "sum"),
        rtol=1e-5,
        atol=1e-7,
    )


@pytest.mark.slow
def test_gradients_append_a_run_and_refuse_foreign_images(grads):
    run(
        "-q",
        "gradients",
        "sample:coffee",
        "-o",
        grads,
        "--append",
        "-t",
        "pred",
        "--score",
        "logit",
        "--strategy",
        "batched",
        "--no-per-image",
    )
    with h5py.File(grads) as f:
        extra = read_gradient_run(f, "pred")
    assert "per_image" not in extra["layers"]["_conv_stem"]
    assert extra["attrs"]["strategy"] == "aggregate"
    before = grads.read_bytes()
    line = one_error_line(run("gradients", "sample:rocket", "-o", grads, "--append", ok=False))
    assert "sample:rocket" in line and "--append" in line
    again = one_error_line(run("gradients", "sample:coffee", "-o", grads, "--append", ok=False))
    assert "/gradients/pred exists" in again
    assert grads.read_bytes() == before


@pytest.mark.slow
def test_gradients_bad_inputs_give_one_line_and_no_file(tmp_path):
    out = tmp_path / "x.h5"
    line = one_error_line(run("gradients", "sample:coffee", "-o", out, "-t", "pembrok", ok=False))
    assert "'pembrok'" in line and "Pembroke" in line
    line = one_error_line(run("gradients", "sample:coffee", "-o", out, "-l", "_conv_stm", ok=False))
    assert "_conv_stem" in line
    line = one_error_line(run("gradients", "sample:coffee", "-o", out, "-t", "1000", ok=False))
    assert "1000" in line
    assert list(tmp_path.iterdir()) == []


def test_import_cnn_vis_gradients_and_activations(tmp_path):
    grads = [REFERENCE / "gradients" / f"conv1_{n}.npy" for n in ("pembroke", "chihuahua")]
    run("-q", "import", *grads, "-o", tmp_path / "g.h5", "--target", "fc8 263")
    with Store(tmp_path / "g.h5") as store:
        assert [r["name"] for r in store.inputs] == ["conv1_pembroke", "conv1_chihuahua"]
        got = read_gradient_run(store.file, "imported")
    conv1 = got["layers"]["conv1"]
    np.testing.assert_array_equal(conv1["per_image"][0], np.load(grads[0]))
    assert np.linalg.norm(conv1["per_image"][0]) == pytest.approx(68.6, abs=0.05)
    assert conv1["mean"].shape == (96, 3, 11, 11)
    assert got["attrs"]["target_label"] == "fc8 263"
    run("-q", "import", REFERENCE / "activations" / "conv1_cat.npy", "-o", tmp_path / "a.h5")
    with Store(tmp_path / "a.h5") as store:
        np.testing.assert_array_equal(
            store.volume("conv1", 0), np.load(REFERENCE / "activations" / "conv1_cat.npy")
        )
    assert validate(tmp_path / "a.h5") == [] and validate(tmp_path / "g.h5") == []


def test_import_refuses_bad_arrays(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((4, 4)))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    out = tmp_path / "o.h5"
    line = one_error_line(run("import", tmp_path / "flat.npy", "-o", out, ok=False))
    assert "--kind 'auto'" in line and "(4, 4)" in line
    line = one_error_line(run("import", tmp_path / "obj.npy", "-o", out, ok=False))
    assert "obj.npy" in line and "pickled" in line
    assert not out.exists() and not list(tmp_path.glob(".o.h5*"))


@pytest.mark.slow
def test_compare_writes_runs_differences_and_table(tmp_path):
    out = tmp_path / "c.h5"
    result = run(
        "-q", "compare",
        "--reference", IMAGES / "pembroke.jpg",
        "--similar", IMAGES / "chihuahua.jpg",
        "--dissimilar", IMAGES / "Persian_1.jpg",
        "-o", out, "--out", tmp_path / "png", "--reduce", "l2", "--format", "npy",
    )  # fmt: skip
    assert "263 Pembroke" in result.output and "cosine" in result.output
    with h5py.File(out) as f:
        runs = {r: read_gradient_run(f, f"compare-{r}") for r in ("reference", "similar")}
        comp = f["comparisons/compare"]
        diff = comp["_conv_stem/reference-minus-similar"][()]
        table = json.loads(comp.attrs["table"])["_conv_stem"]
    means = {r: v["layers"]["_conv_stem"]["mean"] for r, v in runs.items()}
    np.testing.assert_allclose(diff, means["reference"] - means["similar"], rtol=1e-6)
    assert runs["similar"]["attrs"]["images"] == [1]
    assert {p["a"] + "/" + p["b"] for p in table["pairs"]} == {
        "reference/similar", "reference/dissimilar", "similar/dissimilar"
    }  # fmt: skip
    names = {p.name for p in (tmp_path / "png").iterdir()}
    assert "compare_reference-minus-dissimilar__conv_stem.npy" in names and len(names) == 12
    assert validate(out) == []


@pytest.mark.slow
def test_importance_json(tmp_path):
    result = run("-q", "importance", "sample:coffee", "sample:chelsea", "--json", "-k", "1,2")
    report = json.loads(result.output.strip().splitlines()[-1])
    assert sorted(report["ranking"]) == list(range(32))
    assert report["importance"] == sorted(report["importance"], reverse=True)
    removed = [r["removed"] for r in report["pruning"]]
    assert removed == ["none", "top-1", "bottom-1", "top-2", "bottom-2"]
    line = one_error_line(run("importance", "sample:coffee", "-k", "0", ok=False))
    assert "--top-k" in line and "'0'" in line


@pytest.mark.slow
def test_attribute_gradcam_then_occlusion_into_the_same_store(tmp_path):
    store = tmp_path / "a.h5"
    png = tmp_path / "png"
    run("-q", "attribute", "sample:chelsea", "--method", "gradcam", "-o", store, "--out", png)
    with h5py.File(store) as f:
        cam = read_attribution(f, "gradcam-_conv_head-pred")
    assert cam["maps"].shape == (1, 224, 224) and cam["layer_maps"].shape == (1, 7, 7)
    assert cam["class_index"][0] in {281, 282, 285}
    assert cam["attrs"]["params"]["layer"] == "_conv_head"
    # The cat's face fills the crop: the map's peak is not in the outer border.
    peak = np.unravel_index(np.argmax(cam["maps"][0]), (224, 224))
    assert 16 <= peak[0] < 208 and 16 <= peak[1] < 208
    run("-q", "attribute", store, "--method", "occlusion", "--window", "112", "--stride", "56",
        "--out", png)  # fmt: skip
    with h5py.File(store) as f:
        assert attribution_runs(f) == ["gradcam-_conv_head-pred", "occlusion-pred"]
        occ = read_attribution(f, "occlusion-pred")
    assert occ["maps"].shape == (1, 224, 224) and 0 < occ["base_score"][0] <= 1
    assert occ["attrs"]["params"]["window"] == 112
    assert occ["attrs"]["score"] == "probability"  # occlusion's default: probability drops
    assert occ["attrs"]["params"]["value"] == "probability drop"
    # The same run again is refused before any work, naming the run; --stride > --window too.
    again = run("-q", "attribute", store, "--method", "occlusion", "--window", "112",
                "--stride", "56", ok=False)  # fmt: skip
    assert "already holds /attributions/occlusion-pred; pass --force" in one_error_line(again)
    skip = run("-q", "attribute", store, "--method", "occlusion", "--window", "16",
               "--stride", "32", "--name", "x", ok=False)  # fmt: skip
    assert "--stride 32 is larger than --window 16" in one_error_line(skip)
    assert sorted(p.name for p in png.glob("*.png")) == [
        "gradcam-_conv_head-pred_chelsea.png",
        "occlusion-pred_chelsea.png",
        "occlusion-pred_chelsea_clipped.png",
    ]
    assert validate(store) == []


@pytest.mark.slow
def test_attribute_maximize_and_errors(tmp_path):
    out = tmp_path / "m.h5"
    run("-q", "attribute", "--method", "maximize", "-l", "_conv_stem", "--channel", "3",
        "--steps", "3", "-o", out, "--out", tmp_path / "png")  # fmt: skip
    with h5py.File(out) as f:
        result = read_attribution(f, "maximize-_conv_stem-3")
    assert result["image"].shape == (1, 3, 224, 224) and result["history"].shape == (1, 3)
    assert (tmp_path / "png" / "maximize-_conv_stem-3_0.png").exists()
    bad = tmp_path / "bad.h5"
    args = ["attribute", "sample:coffee", "--method", "occlusion", "--window", "0", "-o", bad]
    line = one_error_line(run(*args, ok=False))
    assert "--window 0" in line
    line = one_error_line(
        run("attribute", "sample:coffee", "--method", "gradcam", "-l", "nope", "-o", bad, ok=False)
    )
    assert "'nope'" in line
    line = one_error_line(run("attribute", "--method", "maximize", "-o", bad, ok=False))
    assert "--target" in line
    line = one_error_line(run("attribute", "--method", "saliency", "-o", bad, ok=False))
    assert (
        line == "Error: INPUTS holds no image: saliency explains images (only maximize "
        "starts from noise)"
    )
    args = ["attribute", "sample:coffee", "--method", "maximize", "--start", "noise"]
    line = one_error_line(run(*args, "-l", "_conv_stem", "--channel", "1", "-o", bad, ok=False))
    assert line == "Error: --start 'noise' takes no images"
    assert not bad.exists() and not list(tmp_path.glob(".bad.h5*"))


@pytest.mark.slow
def test_importance_is_recorded_in_a_store_for_the_report(tmp_path):
    from volviz.store.results import importance_reports

    store = tmp_path / "s.h5"
    run("-q", "capture", "sample:coffee", "-o", store, "--layers", "_conv_stem")
    run("-q", "importance", "sample:coffee", "-l", "_conv_stem", "-k", "2", "--store", store)
    with h5py.File(store) as f:
        ((name, rep),) = importance_reports(f).items()
    assert name == "_conv_stem-pred" and rep["image_names"] == ["coffee"]
    removed = {row["removed"]: row for row in rep["pruning"]}
    assert set(removed) == {"none", "top-2", "bottom-2"}
    assert removed["top-2"]["filters"] == rep["ranking"][:2]
    again = run("importance", "sample:coffee", "-l", "_conv_stem", "--store", store, ok=False)
    assert "exists" in one_error_line(again)
