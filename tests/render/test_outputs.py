"""Offscreen outputs: orbit animations (GIF, MP4) and the offline HTML page, the latter
checked in headless Chromium: a non-blank screenshot showing the volume's colours, WebGL 2
present, the plot drawn, and no console errors or uncaught exceptions."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from volviz.render.animate import write_orbit
from volviz.render.html import scene_figure, write_html
from volviz.render.scenes import threshold_view
from volviz.render.volume import Style, volume_plotter, volume_view

CHROMIUM = Path("/usr/bin/chromium")
# Injected into a copy of the page (never into what users get): turns console errors and
# uncaught exceptions into log lines we can find, and reports WebGL 2 and the drawn plot.
PROBE = """<script>
window.addEventListener('error', function (e) { console.log('VOLVIZ-UNCAUGHT ' + e.message); });
console.error = function () {
  console.log('VOLVIZ-CONSOLE-ERROR ' + [].join.call(arguments, ' '));
};
window.addEventListener('load', function () {
  var gl = !!document.createElement('canvas').getContext('webgl2');
  var gd = document.querySelector('.plotly-graph-div');
  var n = gd && gd._fullData ? gd._fullData.length : 0;
  console.log('VOLVIZ-WEBGL2 ' + gl + ' VOLVIZ-TRACES ' + n);
});
</script>"""


@pytest.mark.slow
def test_gif_and_mp4_orbits(marker, tmp_path, needs_gl):
    import imageio.v3 as iio

    style = Style(window_size=(161, 121))  # odd sides: frames are cropped to even ones
    gif = write_orbit(volume_plotter(marker, style=style), tmp_path / "o.gif", frames=4)
    frames = iio.imread(gif, index=None)
    assert frames.shape[:3] == (4, 120, 160)
    assert np.abs(frames[0].astype(int) - frames[2].astype(int)).mean() > 1  # it turns
    mp4 = write_orbit(volume_plotter(marker, style=style), tmp_path / "o.mp4", frames=4, fps=8)
    assert mp4.stat().st_size > 1000 and mp4.read_bytes()[4:8] == b"ftyp"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.gif", "o.mp4"]


def test_figure_mirrors_the_scene(marker):
    fig = scene_figure(volume_view(marker, normalization="minmax"))
    (volume,) = [t for t in fig.data if t.type == "volume"]
    assert len(volume.x) == marker.size
    # x = column, y = row, z = channel, and values follow the (C, H, W) array
    index = int(np.argmax(np.asarray(volume.value)))
    _c, h, w = np.unravel_index(int(np.argmax(marker)), marker.shape)
    assert marker.flat[index] == marker.max()
    assert (volume.x[index], volume.y[index]) == pytest.approx((w, h))
    assert fig.layout.scene.xaxis.title.text == "column"
    assert fig.layout.scene.zaxis.title.text == "channel"
    fig = scene_figure(threshold_view(marker, level=0.5))
    assert {t.type for t in fig.data} == {"mesh3d", "scatter3d"}


def test_big_volumes_are_pooled_for_html():
    volume = np.random.default_rng(0).random((64, 40, 40)).astype(np.float32)
    fig = scene_figure(volume_view(volume), max_points=20_000)
    (trace,) = [t for t in fig.data if t.type == "volume"]
    assert len(trace.x) <= 20_000
    assert "max-pooled" in fig.layout.annotations[-1].text


def chromium_check(page: Path, tmp_path: Path) -> tuple[np.ndarray, str]:
    """Screenshot of ``page`` (with the probe) in headless Chromium, and its log."""
    from PIL import Image

    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    shot = tmp_path / "shot.png"
    args = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--enable-unsafe-swiftshader",
        "--use-angle=swiftshader",
        "--disable-background-networking",
        "--disable-component-update",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=800,600",
        f"--screenshot={shot}",
        "--virtual-time-budget=8000",
        "--enable-logging=stderr",
        "--v=0",
        probed.as_uri(),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert shot.exists(), done.stderr[-3000:]
    return np.asarray(Image.open(shot).convert("RGB")), done.stderr


@pytest.mark.slow
@pytest.mark.browser
def test_html_page_shows_a_volume_offline_in_chromium(marker, tmp_path, chromium):
    page = write_html(volume_view(marker, normalization="minmax"), tmp_path / "v.html")
    text = page.read_text()
    assert "<script src=" not in text.replace('<script src="data:', "")  # nothing to fetch
    image, log = chromium_check(page, tmp_path)
    console = [ln for ln in log.splitlines() if "CONSOLE" in ln]
    assert not [
        ln
        for ln in console
        if "VOLVIZ-UNCAUGHT" in ln or "VOLVIZ-CONSOLE-ERROR" in ln or "Uncaught" in ln
    ], "\n".join(console)
    assert any(re.search(r"VOLVIZ-WEBGL2 true VOLVIZ-TRACES [1-9]", ln) for ln in console), (
        "\n".join(console)
    )
    assert image.std() > 10, "blank page"
    r, _g, b = (image[..., i].astype(int) for i in range(3))
    warm = (r > 150) & (r - b > 60)  # inferno's oranges and yellows: the volume itself
    assert warm.mean() > 0.003, f"no volume colours in the screenshot ({warm.mean():.4f})"


def test_mp4_without_the_extra_names_it(tmp_path, monkeypatch):
    import importlib.util

    from volviz.errors import VolvizError
    from volviz.render.animate import write_frames

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "imageio_ffmpeg" else real(name, *a),
    )
    frame = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(VolvizError, match=r"pip install 'volviz\[mp4\]'"):
        write_frames([frame], tmp_path / "o.mp4")
    assert list(tmp_path.iterdir()) == []
