from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.helpers import error_line as one_error_line
from tests.helpers import run_cli as run
from volviz.store import Store


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "acts.h5"
    layers = "_conv_stem,_blocks.0.*conv"
    run("-q", "capture", "sample:coffee", "sample:chelsea", "-o", str(path), "--layers", layers)
    return path


def test_capture_writes_requested_layers_and_predictions(store_path):
    with Store(store_path) as store:
        assert store.layers == [
            "_conv_stem",
            "_blocks.0._depthwise_conv",
            "_blocks.0._project_conv",
        ]
        assert store.activations("_conv_stem").shape == (2, 32, 112, 112)
        preds = store.predictions()
        assert preds["top_index"][0, 0] == 967
        assert preds["top_index"][1, 0] in {281, 282, 285}
        assert preds["class_names"][967] == "espresso"
        assert store.provenance["command"].startswith("volviz")


def test_info_and_validate(store_path):
    out = run("info", str(store_path)).output
    assert "_blocks.0._project_conv" in out and "espresso" in out and "(2, 16, 112, 112)" in out
    assert "valid volviz store" in run("validate", str(store_path)).output


def test_validate_fails_with_reason(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    result = run("validate", str(bad), ok=False)
    assert result.exit_code == 1 and "invalid:" in result.output


def test_layers_lists_names_types_shapes():
    out = run("layers", "--conv-only").output
    assert "_conv_stem" in out and "1x32x112x112" in out and "_conv_head" in out
    assert "_bn0" not in out


@pytest.mark.slow
def test_render_png_is_not_blank(store_path, tmp_path, needs_gl):
    png = tmp_path / "stem.png"
    run(
        "render",
        str(store_path),
        "--layer",
        "_conv_stem",
        "--image",
        "chelsea",
        "-o",
        str(png),
        "--size",
        "400x300",
    )
    pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert pixels.shape == (300, 400)
    assert pixels.std() > 10 and (pixels > 100).mean() > 0.02


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--layers", "_conv_stm"],
            "--layers '_conv_stm' matches no layer of EfficientNet; did you mean _conv_stem",
        ),
        (["-m", "lenet"], "MODEL 'lenet' is not known"),
        (["--weights", "missing.pt"], "--weights 'missing.pt': no such file"),
        (["--device", "tpu"], "--device 'tpu' is not one of auto, cpu, cuda"),
        (["--batch-size", "0"], "--batch-size 0 must be at least 1"),
    ],
)
def test_capture_bad_options_one_line_no_file(tmp_path, args, message):
    out = tmp_path / "x.h5"
    line = one_error_line(run("capture", "sample:coffee", "-o", str(out), *args, ok=False))
    assert message in line
    assert list(tmp_path.iterdir()) == []


def test_capture_bad_inputs_one_line_no_file(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    out = tmp_path / "x.h5"
    line = one_error_line(run("capture", str(broken), "-o", str(out), ok=False))
    assert "broken.jpg' is not a readable image" in line
    assert not out.exists()


def test_existing_output_needs_force(store_path, tmp_path):
    line = one_error_line(run("capture", "sample:coffee", "-o", str(store_path), ok=False))
    assert "exists; pass --force" in line
    png = tmp_path / "a.png"
    png.write_bytes(b"keep")
    args = ["render", str(store_path), "--layer", "_conv_stem", "-o", str(png)]
    assert "exists; pass --force" in one_error_line(run(*args, ok=False))
    assert png.read_bytes() == b"keep"


def test_render_bad_layer_and_image(store_path, tmp_path):
    png = tmp_path / "a.png"
    base = ["render", str(store_path), "-o", str(png)]
    line = one_error_line(run(*base, "--layer", "_conv_stm", ok=False))
    assert "--layer '_conv_stm' is not in acts.h5; did you mean _conv_stem" in line
    line = one_error_line(run(*base, "--layer", "_conv_stem", "--image", "9", ok=False))
    assert "--image 9 is out of range" in line
    assert not png.exists()


def test_version_and_fast_help():
    assert "volviz, version" in run("--version").output
    assert "capture" in run("--help").output


def test_cli_start_up_imports_no_heavy_library():
    """`volviz --help` and every command's option parsing stay light: the libraries load
    where a command uses them (a module-level import in an option declaration used to pull
    in numpy)."""
    code = (
        "import sys, volviz.cli.main; "
        "print(sorted(m for m in ('numpy', 'torch', 'h5py', 'pyvista', 'vtk', 'matplotlib', "
        "'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
