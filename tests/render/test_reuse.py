"""One Plotter, many scenes: a scene drawn into a reused Plotter (``build(..., plotter=)``,
as the served page does) is a new Plotter's picture, pixel for pixel, whatever the previous
scene's panels, bars, texts, cameras and stack stand-in were."""

from __future__ import annotations

import numpy as np
import pytest

from volviz.render.build import Panel, SceneSpec, build
from volviz.render.draw import empty
from volviz.render.ordered import ChannelOrder
from volviz.render.volume import Style, new_plotter, screenshot_array

SMALL = Style(window_size=(320, 240), normalization="minmax")
ORDER = ChannelOrder(np.array([11, 10, 9, 8, 0, 1, 2, 3, 7, 6, 5, 4]), np.array([4, 8]), "test")


def scenes(v: np.ndarray) -> list[tuple[SceneSpec, list[Panel], dict]]:  # type: ignore[type-arg]
    other = np.ascontiguousarray(v[:, ::-1, :])
    stack = [("a", v), ("b", np.ascontiguousarray(v[:6, ::2, ::2]))]
    return [
        (SceneSpec(), [Panel(v, "volume")], {}),
        (SceneSpec(scene="compare"), [Panel(v, "one"), Panel(other, "two")], {}),
        (SceneSpec(scene="slices", channel=6, row=5, column=16), [Panel(v, "slices")], {}),
        (SceneSpec(scene="compare", difference=True), [Panel(v, "a"), Panel(other, "b")], {}),
        (SceneSpec(scene="stack"), [], {"stack": stack, "stack_title": "stack"}),
        (SceneSpec(scene="threshold", percentile=90.0), [Panel(v, "thr", ORDER)], {}),
        (SceneSpec(scene="stack"), [], {"stack": stack[:1], "stack_title": "again"}),
        (SceneSpec(), [Panel(v, "volume")], {}),
    ]


@pytest.mark.slow
def test_a_reused_plotter_draws_what_a_new_plotter_draws(marker, needs_gl) -> None:  # type: ignore[no-untyped-def]
    reused = build(SceneSpec(), SMALL, [Panel(marker[::-1].copy(), "first")])
    window = reused.ren_win
    screenshot_array(reused)
    try:
        for k, (spec, panels, stack) in enumerate(scenes(marker)):
            fresh = build(spec, SMALL, panels, **stack)
            try:
                expected = screenshot_array(fresh)
            finally:
                fresh.close()
            assert build(spec, SMALL, panels, plotter=reused, **stack) is reused
            got = screenshot_array(reused)
            assert reused.ren_win is window
            assert got.std() > 5, k
            np.testing.assert_array_equal(got, expected, err_msg=f"scene {k}: {spec.scene}")
    finally:
        reused.close()


def test_empty_replaces_the_panels_in_the_same_window(needs_gl) -> None:  # type: ignore[no-untyped-def]
    import pyvista as pv

    plotter = new_plotter(SMALL)
    window = plotter.ren_win
    try:
        plotter.add_mesh(pv.Sphere())
        plotter.add_text("old")
        empty(plotter, 3)
        assert plotter.shape == (1, 3)
        assert plotter.ren_win is window
        assert all(not r.actors for r in plotter.renderers)
        # 3 panels and the shadow renderer, nothing of the old scene left in the window
        assert window.GetRenderers().GetNumberOfItems() == 4
        empty(plotter, 1)
        assert plotter.shape == (1, 1)
        assert window.GetRenderers().GetNumberOfItems() == 2
        assert window.GetNumberOfLayers() == 2
    finally:
        plotter.close()
