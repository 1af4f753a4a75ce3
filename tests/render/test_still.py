from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from volviz.render import still
from volviz.render.volume import screenshot_array, volume_plotter


@pytest.fixture
def fresh_contexts():
    still.close_all()
    yield
    still.close_all()


@pytest.mark.slow
def test_one_context_draws_what_a_new_plotter_draws(marker, needs_gl, fresh_contexts, tmp_path):
    """The reused Plotter must not carry anything over (camera zoom, axes, bars, titles)."""
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[0:5, 0:30, 0:12].astype(np.float32)
    volumes = [
        marker,
        rng.random((40, 7, 9), dtype=np.float32),
        np.exp(-((x - 2 * z) ** 2 + (y - 9) ** 2) / 6.0).astype(np.float32),
        marker,
    ]
    for k, volume in enumerate(volumes):
        title = f"still {k}"
        plotter = volume_plotter(volume, title=title, window_size=(320, 240))
        expected = screenshot_array(plotter)
        plotter.close()
        path = still.render_still(
            volume, tmp_path / f"s{k}.png", title=title, window_size=(320, 240)
        )
        got = np.asarray(Image.open(path).convert("RGB"))
        assert got.shape == (240, 320, 3)
        np.testing.assert_array_equal(got, expected, err_msg=f"volume {k}")
    assert len(still._PLOTTERS) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"s{k}.png" for k in range(4)]
