from __future__ import annotations

import numpy as np
import pytest

from volviz.errors import VolvizError
from volviz.render.volume import save_screenshot, to_image_data, volume_plotter
from volviz.store.views import auto_spacing, normalize


def test_image_data_puts_channels_on_z_rows_on_y_columns_on_x():
    c, h, w = 5, 3, 7
    volume = np.arange(c * h * w, dtype=np.float32).reshape(c, h, w)
    grid = to_image_data(volume, spacing=(2.0, 1.0, 0.5))
    assert grid.dimensions == (w, h, c)
    assert grid.spacing == (0.5, 1.0, 2.0)
    values = grid.point_data["value"]
    for ch, row, col in [(0, 0, 0), (4, 2, 6), (1, 2, 3), (3, 0, 5)]:
        point = grid.find_closest_point((col * 0.5, row * 1.0, ch * 2.0))
        assert values[point] == volume[ch, row, col]
    with pytest.raises(VolvizError, match=r"shape \(3, 4\)"):
        to_image_data(np.zeros((3, 4)))


def test_normalizations():
    v = np.array([[[0.0, 10.0]], [[-5.0, 5.0]]], dtype=np.float32)
    out, label = normalize(v, "minmax")
    np.testing.assert_allclose(out, [[[1 / 3, 1.0]], [[0.0, 2 / 3]]], rtol=1e-6)
    assert "global min-max (-5..10)" in label
    out, _ = normalize(v, "channel")
    np.testing.assert_array_equal(out, [[[0.0, 1.0]], [[0.0, 1.0]]])
    out, _ = normalize(np.zeros((2, 2, 2), np.float32), "percentile")
    assert (out == 0).all()
    with pytest.raises(VolvizError, match=r"^normalization='zscore' is not one of"):
        normalize(v, "zscore")


def test_auto_spacing_keeps_boxes_readable():
    assert auto_spacing((1280, 7, 7)) == (1.0, 1280 / 2.5 / 7, 1280 / 2.5 / 7)
    assert auto_spacing((32, 112, 112))[0] == pytest.approx(112 / 2.5 / 32)
    assert auto_spacing((96, 55, 55)) == (1.0, 1.0, 1.0)


def test_render_shows_the_volume_where_it_lies(tmp_path, needs_gl):
    from PIL import Image

    volume = np.zeros((6, 4, 12), np.float32)
    volume[:, :, 6:] = 1.0  # right half of every map (high column index) is bright
    plotter = volume_plotter(volume, normalization="minmax", window_size=(320, 240))
    plotter.view_xy()  # look down z: x (columns) to the right, y (rows) up
    plotter.reset_camera()
    path = save_screenshot(plotter, tmp_path / "v.png")
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.shape == (240, 320)
    middle = pixels[60:180]
    left, right = middle[:, 40:150].mean(), middle[:, 170:280].mean()
    assert right > left + 20, (left, right)
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.slow
def test_torchvision_imports_after_a_render(needs_gl):
    import subprocess
    import sys

    code = (
        "import numpy as np; from volviz.render.volume import volume_plotter;"
        "p = volume_plotter(np.ones((2, 3, 4), np.float32), window_size=(64, 64));"
        "p.render(); p.screenshot(); p.close(); import torchvision; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.slow
def test_triton_is_imported_only_with_torch():
    """`import volviz.render` alone leaves triton (0.4-0.6 s) and torch unloaded; with torch
    loaded, triton (when installed) is imported at once, before any frame."""
    import importlib.util
    import subprocess
    import sys

    code = "import sys, volviz.render; print('triton' in sys.modules, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["False", "False"], done.stderr[-2000:]
    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed with this torch")
    code = "import sys, torch, volviz.render; print(sys.modules['triton'].__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "triton", done.stderr[-2000:]
