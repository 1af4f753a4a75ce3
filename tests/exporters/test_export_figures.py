"""2-D exports: PNG + .npy written, pictures not blank, labels are original channel indices."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

import exporters
from exporters import ExportError, feature_grid, filter_grid, gradient_grid, heatmap_overlay
from exporters._mosaic import boundaries


@pytest.fixture
def captured(monkeypatch):
    """Keep every Figure handed to the saver, to inspect what was drawn."""
    figures: list[Figure] = []
    original = exporters.figures._save

    def keep(fig, *args, **kwargs):
        figures.append(fig)
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(exporters.figures, "_save", keep)
    return figures


def _assert_picture(path, min_colours: int = 20) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        pixels = np.asarray(img.convert("RGB"))
    assert pixels.std() > 10  # not a blank canvas
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) >= min_colours
    return pixels


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_feature_grid_order_labels_separators(tmp_path, captured):
    rng = np.random.default_rng(0)
    vol = rng.random((6, 3, 5)).astype(np.float32)
    order = [5, 2, 3, 4, 0, 1]
    clusters = np.array([0, 0, 1, 1, 1, 2])  # shown: 2 1 1 1 0 0 -> two changes
    png, npy = feature_grid(
        tmp_path / "f.png",
        vol,
        order=order,
        clusters=clusters,
        layer="features.3",
        image="cat.jpg",
        ncols=4,
        metadata={"normalization": "none"},
    )
    _assert_picture(png)
    np.testing.assert_array_equal(np.load(npy), vol)  # original order on disk
    (fig,) = captured
    assert _texts(fig) == ["5", "2", "3", "4", "0", "1"]
    assert len(fig.axes[0].lines) == 2
    assert fig.get_suptitle() == "layer features.3  |  image cat.jpg"
    assert len(fig.axes) == 2  # grid + colorbar
    with Image.open(png) as img:
        assert img.text["Title"] == "layer features.3  |  image cat.jpg"
        assert img.text["normalization"] == "none"


def test_boundaries_in_display_order():
    assert boundaries(np.array([0, 0, 1, 1, 1, 2]), np.arange(6)) == [2, 5]
    assert boundaries(np.array([0, 0, 1, 1, 1, 2]), np.array([5, 2, 3, 4, 0, 1])) == [1, 4]
    assert boundaries(None, np.arange(3)) == []


@pytest.mark.slow
def test_feature_grid_real_conv1(tmp_path, reference):
    acts = np.load(reference / "activations" / "conv1_cat.npy")
    png, _ = feature_grid(tmp_path / "conv1.png", acts, layer="conv1", image="cat")
    pixels = _assert_picture(png, min_colours=200)
    assert pixels.shape[0] > 600 and pixels.shape[1] > 600


@pytest.mark.slow
def test_filter_grid_rgb_for_three_inputs(tmp_path, captured, reference):
    grads = np.load(reference / "gradients" / "conv1_pembroke.npy")
    png, npy = filter_grid(tmp_path / "rgb.png", grads, layer="conv1")
    _assert_picture(png, min_colours=200)
    np.testing.assert_array_equal(np.load(npy), grads)
    (fig,) = captured
    assert fig.axes[0].images[0].get_array().shape[-1] == 3
    assert len(fig.axes) == 1  # no colorbar for colour patches


def test_filter_grid_channels_and_reduced(tmp_path, captured):
    w = np.random.default_rng(2).standard_normal((4, 2, 3, 3))
    png, npy = filter_grid(tmp_path / "ch.png", w, layer="conv2")
    _assert_picture(png)
    assert _texts(captured[0]) == [f"{o}:{i}" for o in range(4) for i in range(2)]
    np.testing.assert_array_equal(np.load(npy), w)
    norm = captured[0].axes[0].images[0].norm
    assert norm.vmin == -norm.vmax
    _, npy = filter_grid(tmp_path / "l2.png", w, mode="l2")
    np.testing.assert_allclose(np.load(npy), np.sqrt((w**2).sum(axis=1)))
    with pytest.raises(ExportError, match=r"mode='rgb' needs 3 input channels"):
        filter_grid(tmp_path / "x.png", w, mode="rgb")


@pytest.mark.slow
@pytest.mark.parametrize("reduction", ["sum", "abs_sum", "l2"])
def test_gradient_grid_diverging_centred(tmp_path, captured, reference, reduction):
    grads = np.load(reference / "gradients" / "conv1_Persian_1.npy")
    png, npy = gradient_grid(
        tmp_path / "g.png",
        grads,
        reduction=reduction,
        layer="conv1",
        image="Persian_1",
        target="263",
    )
    _assert_picture(png)
    shown = np.load(npy)
    assert shown.shape == (96, 11, 11)
    expected = {
        "sum": grads.sum(axis=1),
        "abs_sum": np.abs(grads).sum(axis=1),
        "l2": np.sqrt((grads.astype(np.float64) ** 2).sum(axis=1)),
    }[reduction]
    np.testing.assert_allclose(shown, expected, rtol=1e-6)
    norm = captured[0].axes[0].images[0].norm
    assert norm.vmin == -norm.vmax == -np.abs(shown).max()
    assert "target 263" in captured[0].get_suptitle()


@pytest.mark.slow
def test_heatmap_overlay(tmp_path, captured):
    image = np.zeros((60, 90, 3), dtype=np.uint8)
    image[:, :45] = (200, 180, 40)
    heat = np.zeros((7, 7))
    heat[2, 5] = 1.0
    png, npy = heatmap_overlay(
        tmp_path / "h.png",
        heat,
        image,
        method="Grad-CAM",
        layer="layer4",
        image_name="cat",
        target="281 tabby",
    )
    _assert_picture(png)
    np.testing.assert_array_equal(np.load(npy), heat)
    (fig,) = captured
    overlay = fig.axes[0].images[1]
    assert overlay.get_extent() == [-0.5, 89.5, 59.5, -0.5]  # stretched over the image
    assert "Grad-CAM" in fig.get_suptitle() and "281 tabby" in fig.get_suptitle()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: feature_grid(p, np.ones((2, 3))), r"volume must be a 3-D array"),
        (lambda p: feature_grid(p, np.ones((3, 2, 2)), order=[0, 0, 1]), r"order must be a perm"),
        (lambda p: feature_grid(p, np.ones((3, 2, 2)), clusters=[1, 2]), r"clusters must have"),
        (lambda p: feature_grid(p, np.ones((3, 2, 2)), cmap="nope"), r"cmap='nope' is not"),
        (lambda p: feature_grid(p.with_suffix(".jpg"), np.ones((3, 2, 2))), r"must end in \.png"),
        (lambda p: heatmap_overlay(p, np.ones((2, 2)), np.ones((4, 4))), r"image must be \(H, W,"),
        (
            lambda p: heatmap_overlay(p, np.ones((2, 2)), np.zeros((4, 4, 3), np.uint8), alpha=2),
            r"alpha must be in \[0, 1\], got 2",
        ),
        (
            lambda p: gradient_grid(p, np.ones((2, 2, 2, 2)), reduction="max"),
            r"reduction must be 'sum', 'abs_sum' or 'l2', got 'max'",
        ),
        (lambda p: filter_grid(p, np.ones((2, 2, 2))), r"weights must be a 4-D array"),
        (lambda p: filter_grid(p, np.ones((2, 2, 2, 2)), mode="max"), r"mode must be one of"),
    ],
)
def test_bad_figure_input_leaves_nothing(tmp_path, call, match):
    with pytest.raises(ExportError, match=match):
        call(tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_no_pyplot_state(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys, numpy as np
        import exporters
        exporters.feature_grid({str(tmp_path / "a.png")!r}, np.random.rand(3, 4, 5))
        exporters.heatmap_overlay({str(tmp_path / "b.png")!r}, np.random.rand(2, 2),
                                  np.zeros((8, 8, 3), np.uint8))
        assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
        assert "torch" not in sys.modules and "volviz" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True, timeout=120)
