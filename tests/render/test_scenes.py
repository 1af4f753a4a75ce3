"""Every scene kind against a reviewed reference picture, on non-square volumes.

The marker volume (12 channels x 20 rows x 32 columns) has a blob at row 5 whose column grows
with the channel and a bar over rows 14..17 in channels 0..2: in each picture the longest box
side is x (columns), the bar lies along x at high rows, and the blob walks along x as it goes
down the channel axis (channel 0 on top).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import REFERENCE
from volviz.errors import VolvizError
from volviz.render.compare import compare_plotter, difference_volume
from volviz.render.ordered import ChannelOrder
from volviz.render.scenes import (
    channel_plotter,
    slices_plotter,
    threshold_level,
    threshold_plotter,
)
from volviz.render.stack import stack_layout, stack_plotter
from volviz.render.volume import Style, screenshot_array, volume_plotter
from volviz.render.weights import reduce_input_channels

SMALL = Style(window_size=(320, 240))
ORDER = ChannelOrder(np.array([11, 10, 9, 8, 0, 1, 2, 3, 7, 6, 5, 4]), np.array([4, 8]), "test")


def frame(plotter) -> np.ndarray:
    try:
        return screenshot_array(plotter)
    finally:
        plotter.close()


def assert_not_blank(image: np.ndarray) -> None:
    grey = image.mean(axis=2)
    assert grey.std() > 8 and (grey > 90).mean() > 0.005, "the frame is (nearly) empty"


SCENES = {
    "volume": lambda v: volume_plotter(v, style=SMALL, normalization="minmax"),
    "volume_ordered": lambda v: volume_plotter(
        v, style=SMALL, normalization="minmax", order=ORDER, gap=2, bands=True
    ),
    "threshold": lambda v: threshold_plotter(v, level=0.5, style=SMALL),
    "isosurface": lambda v: threshold_plotter(v, level=0.5, smooth=True, style=SMALL),
    "slices": lambda v: slices_plotter(v, channel=6, row=5, column=16, style=SMALL),
    "channel": lambda v: channel_plotter(v, 1, style=SMALL),
    "stack": lambda v: stack_plotter(
        [
            ("a", v),
            ("b", v[:6, ::2, ::2].copy()),
            ("c", np.repeat(v, 4, axis=0)[:, 2:9, 2:9].copy()),
        ],
        style=SMALL,
    ),
    "compare": lambda v: compare_plotter(
        [v, v[:, ::-1].copy()], ["a", "b"], style=Style(window_size=(480, 240)), difference=True
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(SCENES))
def test_scene_matches_reference(kind, marker, check_image, needs_gl):
    image = frame(SCENES[kind](marker))
    assert_not_blank(image)
    check_image(image, kind)


def test_weight_gradient_volume_matches_reference(check_image, needs_gl):
    grads = np.load(REFERENCE / "gradients" / "conv1_pembroke.npy")  # (96, 3, 11, 11)
    volume = reduce_input_channels(grads, "sum")
    style = Style(
        window_size=(320, 240), normalization="symmetric", cmap="coolwarm", preset="diverging"
    )
    image = frame(volume_plotter(volume, style=style))
    assert_not_blank(image)
    check_image(image, "gradient")


def to_screen(plotter, point) -> np.ndarray:
    """Display (x right, y up) position of a world point."""
    renderer = plotter.renderer
    renderer.SetWorldPoint(*point, 1.0)
    renderer.WorldToDisplay()
    return np.array(renderer.GetDisplayPoint()[:2])


def test_channel_view_reads_like_an_image(marker):
    """Row 0 at the top, column 0 at the left, as the map is drawn as a picture."""
    plotter = channel_plotter(marker, 1, style=SMALL)
    origin = to_screen(plotter, (0, 0, 0))
    last_row, last_col = to_screen(plotter, (0, 19, 0)), to_screen(plotter, (31, 0, 0))
    plotter.close()
    assert last_row[1] < origin[1] - 50 and abs(last_row[0] - origin[0]) < 1
    assert last_col[0] > origin[0] + 50 and abs(last_col[1] - origin[1]) < 1


def test_volume_view_has_channel_zero_on_top_and_columns_left_to_right(marker):
    plotter = volume_plotter(marker, style=Style(window_size=(320, 240), spacing=(1, 1, 1)))
    origin = to_screen(plotter, (0, 0, 0))
    deep, right = to_screen(plotter, (0, 0, 11)), to_screen(plotter, (31, 0, 0))
    plotter.close()
    assert deep[1] < origin[1] - 10  # later channels lower on the screen
    assert right[0] > origin[0] + 50  # columns grow to the right


def test_threshold_voxels_lie_where_the_values_are(marker):
    plotter = threshold_plotter(marker, level=0.5, style=Style(spacing=(1.0, 1.0, 1.0)))
    mesh = next(
        a.mapper.dataset
        for a in plotter.renderer.actors.values()
        if a.GetMapper() and getattr(a.mapper, "array_name", "") == "activation"
    )
    plotter.close()
    x0, x1, y0, y1, z0, z1 = mesh.bounds
    # voxels are boxes around index centres: bar spans all 32 columns, channels 0..11
    assert (x0, x1) == (-0.5, 31.5)
    assert (y0, y1) == (3.5, 17.5)  # blob rows 4..6, bar rows 14..17
    assert (z0, z1) == (-0.5, 11.5)


def test_threshold_level_and_percentile(marker):
    assert threshold_level(marker, level=0.25) == (0.25, "level 0.25")
    value, how = threshold_level(marker, percentile=50)
    assert value == pytest.approx(np.percentile(marker, 50)) and how.startswith("50th")
    with pytest.raises(VolvizError, match="percentile=120 is not in 0..100"):
        threshold_level(marker, percentile=120)
    with pytest.raises(VolvizError, match="channel=12 is not in 0..11"):
        slices_plotter(marker, channel=12)


def test_stack_layout_shares_scales_and_keeps_network_order():
    shapes = [(32, 112, 112), (16, 112, 112), (1280, 7, 7)]
    places = stack_layout(shapes, channel_scale="sqrt")
    assert [p.spacing[1:] for p in places] == [(1.0, 1.0)] * 3  # one spatial scale
    assert places[2].depth == pytest.approx(112.0)  # the deepest layer as deep as the widest
    assert places[0].depth == pytest.approx(112 * np.sqrt(32 / 1280))
    xs = [p.origin[2] for p in places]
    assert xs == sorted(xs)  # left to right in network order
    linear = stack_layout(shapes, channel_scale="linear")
    assert linear[0].depth == pytest.approx(112 * 32 / 1280)
    wrapped = stack_layout([(4, 5, 5)] * 10, columns=4)
    assert wrapped[4].origin[2] == wrapped[0].origin[2] and wrapped[4].origin[0] > 0
    with pytest.raises(VolvizError, match="channel_scale='log'"):
        stack_layout(shapes, channel_scale="log")


def test_compare_checks_its_inputs(marker):
    with pytest.raises(VolvizError, match="2 to 4 volumes"):
        compare_plotter([marker], ["a"])
    with pytest.raises(VolvizError, match="difference needs exactly 2"):
        compare_plotter([marker] * 3, ["a", "b", "c"], difference=True)
    with pytest.raises(VolvizError, match="equal shapes"):
        difference_volume(marker, marker[:3])
    np.testing.assert_array_equal(difference_volume(marker, marker), 0)


@pytest.mark.slow
def test_long_and_flat_volumes_render(needs_gl):
    rng = np.random.default_rng(1)
    for shape in [(1280, 7, 7), (32, 112, 112)]:
        volume = np.maximum(rng.standard_normal(shape), 0).astype(np.float32)
        assert_not_blank(frame(volume_plotter(volume, style=SMALL, preset="sparse")))


def test_marker_volume_is_not_square(marker):
    assert len(set(marker.shape)) == 3


def test_stack_swaps_to_one_volume_while_moving(marker):
    from volviz.render.stack import set_moving

    plotter = stack_plotter([("a", marker), ("b", marker[:6, ::2, ::2].copy())], style=SMALL)
    proxy, layers = plotter.__dict__["volviz_moving"]
    assert not proxy.GetVisibility() and all(a.GetVisibility() for a in layers)
    set_moving(plotter, True)
    assert proxy.GetVisibility() and not any(a.GetVisibility() for a in layers)
    grid = proxy.mapper.dataset
    assert grid["activation"].max() == pytest.approx(1.0)  # the bar made it into the stand-in
    plotter.close()
