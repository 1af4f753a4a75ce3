"""Pictures that tell the truth: signed data keeps its sign in the HTML page, colour bars show
data values, constant volumes say so, NaN and inf are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.render.test_outputs import chromium_check
from volviz.errors import VolvizError
from volviz.render.compare import compare_scene
from volviz.render.html import _pool, scene_figure, write_html
from volviz.render.volume import volume_plotter, volume_view
from volviz.render.weights import as_volume
from volviz.store.views import display_range, normalize


def signed_pair() -> tuple[np.ndarray, np.ndarray]:
    """a - b is -2 on one voxel of every 2x2x2 block in channels 0..7 and +1 elsewhere."""
    a = np.full((16, 16, 16), 2.0, np.float32)
    b = np.full((16, 16, 16), 1.0, np.float32)
    b[0:8:2, ::2, ::2] = 4.0
    return a, b


def test_signed_pooling_keeps_the_largest_magnitude() -> None:
    display = np.full((2, 2, 4), 0.75, np.float32)
    display[0, 0, 0] = 0.0  # a strong negative in the first block
    display[1, 1, 3] = 1.0  # a strong positive in the second
    assert _pool(display, (2, 2, 2), centre=0.5).tolist() == [[[0.0, 1.0]]]
    assert _pool(display, (2, 2, 2)).tolist() == [[[0.75, 1.0]]]  # plain max loses the sign


def test_html_difference_keeps_negative_values() -> None:
    a, b = signed_pair()
    fig = scene_figure(compare_scene([a, b], ["a", "b"], difference=True), max_points=3000)
    volumes = [t for t in fig.data if t.type == "volume"]
    diff = np.asarray(volumes[-1].value)
    # symmetric display 0.5 + v / 4 (m = 99.5th percentile of |a - b| = 2): -2 -> 0, +1 -> 191;
    # every pooled block of channels 0..7 holds one -2 (plain max pooling kept only 191)
    assert set(diff.tolist()) == {0, 191}
    assert (diff == 0).mean() == pytest.approx(0.5, abs=0.05)
    assert volumes[-1].showscale and volumes[-1].colorbar.title.text == "a - b"
    assert list(volumes[-1].colorbar.ticktext) == ["-2", "0", "2"]
    lo, hi = display_range([a, b], "percentile")
    assert volumes[0].colorbar.title.text == "activation"
    assert list(volumes[0].colorbar.ticktext) == [f"{lo:.3g}", f"{(lo + hi) / 2:.3g}", f"{hi:.3g}"]


@pytest.mark.browser
@pytest.mark.slow
def test_compare_page_shows_both_colours_in_chromium(tmp_path: Path, chromium: str) -> None:
    a, b = signed_pair()
    scene = compare_scene([a, b], ["a", "b"], difference=True)
    page = write_html(scene, tmp_path / "cmp.html", max_points=3000)
    image, log = chromium_check(page, tmp_path)
    assert "VOLVIZ-UNCAUGHT" not in log
    right = image[:, image.shape[1] * 2 // 3 :].astype(int)  # the difference panel
    r, _g, b_ = right[..., 0], right[..., 1], right[..., 2]
    blue, red = (b_ - r > 60) & (b_ > 120), (r - b_ > 60) & (r > 120)
    assert blue.mean() > 0.002, f"no negative (blue) voxels drawn: {blue.mean():.4f}"
    assert red.mean() > 0.002, f"no positive (red) voxels drawn: {red.mean():.4f}"


def test_png_colour_bar_is_in_data_units(needs_gl: None) -> None:
    volume = np.linspace(-3.0, 5.0, 4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    plotter = volume_plotter(volume, normalization="minmax")
    table = plotter.scalar_bars["activation"].GetLookupTable()
    labels = [table.GetAnnotation(i) for i in range(table.GetNumberOfAnnotatedValues())]
    assert labels == ["-3", "1", "5"]
    assert not plotter.scalar_bars["activation"].GetDrawTickLabels()  # no 0..1 ticks
    plotter.close()


def test_constant_volumes_say_so() -> None:
    zeros = np.zeros((2, 3, 4), np.float32)
    shown, label = normalize(zeros, "symmetric")
    assert label == "symmetric (constant 0)" and np.all(shown == 0.5)  # 0 sits mid-scale
    shown, label = normalize(np.full((2, 3, 4), 5.0, np.float32), "percentile")
    assert label.endswith("(constant 5)")


@pytest.mark.parametrize(("bad", "kind"), [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf")])
def test_non_finite_volumes_are_refused(bad: float, kind: str) -> None:
    volume = np.zeros((3, 4, 5), np.float32)
    volume[2, 1, 3] = bad
    with pytest.raises(VolvizError) as info:
        as_volume(volume, param="path", value=Path("x.npy"))
    assert str(info.value) == (
        f"path='x.npy' contains {kind} (1 non-finite voxels; the first at channel 2, row 1, "
        "column 3); only finite values can be drawn"
    )


def test_html_compare_layout_keeps_titles_and_volumes_apart() -> None:
    a, b = signed_pair()
    fig = scene_figure(
        compare_scene([a, b], ["layer x  image 0 (chelsea)  16x16x16", "b"], difference=True)
    )
    titles = [t.text for t in fig.layout.annotations[:3]]
    assert titles[0] == "layer x  image 0 (chelsea)<br>16x16x16"  # two lines, not one wide
    one = scene_figure(volume_view(a))
    for key in ("scene", "scene2", "scene3"):
        assert list(fig.layout[key].domain.y) == [0.2, 0.9]  # above the colour bars
    eye = fig.layout.scene.camera.eye
    single = one.layout.scene.camera.eye
    assert eye.x == pytest.approx(single.x * 1.35)  # narrow panels: the eye moves back


def test_html_threshold_scene_has_a_data_unit_bar() -> None:
    from volviz.render.scenes import threshold_view
    from volviz.render.volume import Style

    volume = np.linspace(-3.0, 5.0, 4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    fig = scene_figure(threshold_view(volume, level=1.0, style=Style(normalization="minmax")))
    (mesh,) = [t for t in fig.data if t.type == "mesh3d" and t.intensity is not None]
    assert mesh.showscale and list(mesh.colorbar.ticktext) == ["-3", "1", "5"]
    assert list(mesh.colorbar.tickvals) == [0.0, 0.5, 1.0]  # display 0..1 of the mesh colours
