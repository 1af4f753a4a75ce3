"""`volviz render` for every scene and output kind, and `volviz view` without a display."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import REFERENCE, error_line
from tests.helpers import run_cli as run

GRADIENTS = REFERENCE / "gradients"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Two images, conv1 (12x20x32) with stored ordering 'rev', conv2 (24x10x16); no torch."""
    from volviz.store import StoreWriter
    from volviz.store.orderings import StoredOrdering, save_ordering

    path = tmp_path_factory.mktemp("render-cli") / "small.h5"
    z, y, x = np.mgrid[0:12, 0:20, 0:32].astype(np.float32)
    conv1 = np.exp(-((x - (4 + 2 * z)) ** 2 + (y - 5) ** 2) / 4.0)
    conv1[:3, 14:18] = 1.0
    conv2 = np.maximum(np.random.default_rng(0).standard_normal((2, 24, 10, 16)), 0)
    inputs = [{"source": "tensor", "name": n, "label": "", "sha256": ""} for n in ("a", "b")]
    attrs = {k: {"module_type": "Conv2d"} for k in ("conv1", "conv2")}
    with StoreWriter(path, attrs={"model": "test"}) as writer:
        acts = {"conv1": np.stack([conv1, conv1[:, ::-1]]), "conv2": conv2}
        writer.append(inputs, acts, layer_attrs=attrs)
    rev = StoredOrdering("rev", np.arange(12)[::-1].copy(), np.array([4, 8]), "test")
    save_ordering(path, "conv1", rev)
    return path


def picture(path: Path) -> np.ndarray:
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.std() > 8 and (pixels > 90).mean() > 0.005, f"{path.name} is (nearly) blank"
    return pixels


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ["--scene", "volume", "--ordering", "rev", "--gap", "1", "--bands", "--preset", "sparse"],
        ["--scene", "threshold", "--percentile", "97"],
        ["--scene", "isosurface", "--level", "0.5"],
        ["--scene", "slices", "--channel", "3", "--row", "5"],
        ["--scene", "channel", "--channel", "2", "--ordering", "rev"],
        ["--scene", "stack", "--image", "b"],
        ["--scene", "compare", "--image", "a", "--image", "b", "--difference"],
        ["--scene", "compare", "--ordering", "rev"],
    ],
    ids=lambda a: "-".join(a[1:3]),
)
def test_every_scene_to_png(store, tmp_path, args, needs_gl):
    png = tmp_path / "out.png"
    run("render", str(store), "--layer", "conv1", *args, "-o", str(png), "--size", "320x240")
    assert picture(png).shape == (240, 320)
    if "--difference" in args:  # image b is image a upside down: a - b has both signs
        rgb = np.asarray(Image.open(png).convert("RGB"))[30:180]
        blue, red = colours(np.array_split(rgb, 3, axis=1)[2])
        assert blue > 0.002 and red > 0.002, (blue, red)


def colours(pixels: np.ndarray) -> tuple[float, float]:
    """Shares of clearly blue and clearly red pixels of an (H, W, 3) picture."""
    r, b = pixels[..., 0].astype(int), pixels[..., 2].astype(int)
    return float(((b > r + 40) & (b > 60)).mean()), float(((r > b + 40) & (r > 60)).mean())


def panel_values(plotter, index: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The display values (0..1) of the volume drawn in panel ``index``."""
    import pyvista as pv

    (actor,) = [a for a in plotter.renderers[index].actors.values() if isinstance(a, pv.Volume)]
    return np.asarray(actor.mapper.dataset.point_data["activation"])


@pytest.mark.slow
def test_gradients_from_npy_compared_with_difference(tmp_path, needs_gl):
    from volviz.render.build import SceneSpec, load_panels, scene_model
    from volviz.render.draw import draw
    from volviz.render.volume import Style
    from volviz.store.views import normalize

    files = [GRADIENTS / f"conv1_{n}.npy" for n in ("pembroke", "chihuahua")]
    spec = SceneSpec(scene="compare", npys=tuple(map(str, files)), reduce="abs", difference=True)
    panels = load_panels(None, spec)
    grads = [np.load(f) for f in files]  # (96, 3, 11, 11): --reduce abs sums |g| over inputs
    for panel, g in zip(panels, grads, strict=True):
        np.testing.assert_allclose(panel.volume, np.abs(g).sum(axis=1), rtol=1e-6)
    # The third panel shows a - b on a symmetric scale: both signs, exactly those values.
    diff = panels[0].volume - panels[1].volume
    style = Style(window_size=(480, 200))
    shown = draw(scene_model(None, spec, style), style)
    want = normalize(diff, "symmetric")[0].ravel()
    np.testing.assert_allclose(np.sort(panel_values(shown, 2)), np.sort(want), atol=1e-6)
    shown.close()
    assert (diff < 0).mean() > 0.2 and (diff > 0).mean() > 0.2
    png = tmp_path / "g.png"
    args = ["--npy", str(files[0]), "--npy", str(files[1]), "--reduce", "abs", "--difference"]
    run("render", "--scene", "compare", *args, "-o", str(png), "--size", "720x360")
    pixels = np.asarray(Image.open(png).convert("RGB"))[40:260]  # panels, not their bars
    thirds = np.array_split(pixels, 3, axis=1)
    assert colours(thirds[0])[0] < 0.0005  # |g| summed: no negative voxel, no blue
    blue, red = colours(thirds[2])
    assert blue > 0.002 and red > 0.02, (blue, red)  # the difference shows both signs


@pytest.mark.slow
def test_animation_and_html(store, tmp_path, needs_gl):
    import imageio_ffmpeg

    base = ["render", str(store), "--layer", "conv1", "--size", "160x120"]
    run(*base, "-o", str(tmp_path / "o.gif"), "--frames", "3")
    run(*base, "-o", str(tmp_path / "o.mp4"), "--frames", "3")
    run(*base, "--scene", "threshold", "-o", str(tmp_path / "t.html"))
    with Image.open(tmp_path / "o.gif") as gif:
        assert (gif.n_frames, gif.size) == (3, (160, 120))
        frames = []
        for i in range(3):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("L"), dtype=float))
    assert all(f.std() > 8 for f in frames)  # drawn frames
    assert not np.array_equal(frames[0], frames[1])  # the camera orbits
    frames_mp4, _ = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "o.mp4"))
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "o.mp4"))
    try:
        size = next(reader)["size"]  # the generator's first item: the stream's metadata
    finally:
        reader.close()  # stops ffmpeg and closes its pipes
    assert (frames_mp4, size) == (3, (160, 120))
    html = (tmp_path / "t.html").read_text()
    assert "mesh3d" in html and "plotly" in html.lower()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.gif", "o.mp4", "t.html"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "x.jpg"], "Invalid value for --out: 'x.jpg' must end in .png, .gif, .mp4, .html"),
        ([], "--scene 'volume' needs at least one layer (--layer)"),
        (
            ["--layer", "conv1", "--ordering", "pca"],
            "--ordering 'pca' is not stored for layer 'conv1'; stored: rev",
        ),
        (
            ["--layer", "conv1", "--scene", "channel"],
            "--scene 'channel' needs --channel (an original channel index)",
        ),
        (["--layer", "conv1", "--scene", "channel", "--channel", "12"], "--channel 12 is not in"),
        (["--layer", "conv1", "--spacing", "1,x,1"], "--spacing '1,x,1' is not 'auto'"),
        (
            ["--layer", "conv1", "--image", "a", "--image", "b"],
            "not 2; use --scene 'compare' for more",
        ),
        (
            [
                "--layer",
                "conv1",
                "--scene",
                "compare",
                "--image",
                "a",
                "--image",
                "b",
                "--image",
                "a",
                "--image",
                "b",
                "--image",
                "a",
            ],
            "compare takes 2 to 4 volumes",
        ),
    ],
)
def test_bad_options_give_one_line_and_no_file(store, tmp_path, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = [] if "-o" in args else ["-o", "x.png"]
    line = error_line(run("render", str(store), *out, *args, ok=False))
    assert message in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to show: give FILE (a volviz store) or --npy"),
        (["--scene", "stack", "--npy", "a.npy"], "--scene 'stack' needs a volviz store (FILE)"),
    ],
)
def test_without_a_store_the_error_names_file(tmp_path, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert error_line(run("render", "-o", "x.png", *args, ok=False)) == f"Error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_view_without_a_display_says_what_to_use(store):
    result = run("view", str(store), ok=False, env={"DISPLAY": ""})
    assert result.exit_code == 1
    line = error_line(result)
    assert "no display" in line and "volviz render" in line and ".html" in line
    assert len(result.output.strip().splitlines()) == 1
