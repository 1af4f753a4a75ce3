"""The served app without a browser: every scene builds through the shared scene builder,
sliders change the opacity in place, training runs step and follow new records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from volviz.serve.app import REBUILD, SCENES


@pytest.fixture
def app(serve_store: Path, needs_gl: None):  # type: ignore[no-untyped-def]
    pytest.importorskip("trame")
    from volviz.serve import make_app
    from volviz.serve.session import Choices, Session
    from volviz.store import Store

    with Store(serve_store) as store:
        session = Session(store, Choices(layer="conv1", normalize="minmax"), window_size=(160, 120))
        made = make_app(session, name=f"test-{id(session)}")
        yield made
        made.plotter.close()


def frame(app) -> np.ndarray:  # type: ignore[no-untyped-def]
    from volviz.render.volume import screenshot_array

    return screenshot_array(app.plotter).astype(float)


def rebuild(app, **changes) -> None:  # type: ignore[no-untyped-def]
    for key, value in changes.items():
        app.state[key] = value
    app._on_rebuild(**{k: app.state[k] for k in REBUILD})


def test_every_scene_builds_and_draws(app) -> None:  # type: ignore[no-untyped-def]
    seen = {}
    for scene in SCENES:
        rebuild(app, scene=scene)
        assert app.state.error == "", (scene, app.state.error)
        seen[scene] = frame(app)
        assert seen[scene].std() > 1.0, scene
    assert np.abs(seen["volume"] - seen["slices"]).mean() > 1.0
    rebuild(app, scene="stack")
    assert "conv1" in app.state.status


def test_threshold_changes_opacity_in_place(app) -> None:  # type: ignore[no-untyped-def]
    plotter = app.plotter
    before = frame(app)
    app._on_opacity(threshold=0.99, opacity=1.0)
    assert app.plotter is plotter  # no rebuild
    assert np.abs(frame(app) - before).max() > 8


def volumes(app) -> list:  # type: ignore[no-untyped-def]
    import pyvista as pv

    return [a for a in app.plotter.renderer.actors.values() if isinstance(a, pv.Volume)]


def test_stack_shows_every_conv_layer(app) -> None:  # type: ignore[no-untyped-def]
    rebuild(app, scene="stack")
    shown = [a for a in volumes(app) if a.GetVisibility()]
    # conv1 (5x7x9) and conv2 (8x6x10), not only the picked layer
    assert sorted(a.mapper.GetInput().GetDimensions() for a in shown) == [(9, 7, 5), (10, 6, 8)]


@pytest.mark.parametrize("scene", ["volume", "stack"])
def test_slider_frame_is_fast_then_full_quality(app, scene: str) -> None:  # type: ignore[no-untyped-def]
    """While a slider moves the page gets coarse frames (one ray per 3x3 pixels; the stack's
    one-volume stand-in), and the full-quality scene once it rests for SETTLE_S."""
    import asyncio

    from volviz.serve.app import SETTLE_S

    rebuild(app, scene=scene)
    layers = [a for a in volumes(app) if a.GetVisibility()]
    hidden = [a for a in volumes(app) if not a.GetVisibility()]  # the stack's stand-in

    def look() -> tuple[list[float], list[bool], list[bool]]:
        return (
            [a.mapper.GetImageSampleDistance() for a in layers],
            [bool(a.GetVisibility()) for a in layers],
            [bool(a.GetVisibility()) for a in hidden],
        )

    still = look()
    assert still[0] == [1.0] * len(layers)

    async def drag() -> tuple:  # type: ignore[type-arg]
        app._on_opacity(threshold=0.5, opacity=1.0)
        app._on_opacity(threshold=0.6, opacity=1.0)  # the slider moves on
        moving = look()
        await asyncio.sleep(SETTLE_S + 0.2)
        return moving, look()

    moving, rested = asyncio.run(drag())
    assert moving[0] == [3.0] * len(layers)
    if scene == "stack":
        assert moving[1:] == ([False] * len(layers), [True])
    else:
        assert hidden == []
    assert rested == still
    assert app.session.choices.threshold == 0.6


def test_bad_choice_shows_on_the_page(app) -> None:  # type: ignore[no-untyped-def]
    rebuild(app, layer="conv2", ordering="perm")  # conv2 has no ordering 'perm'
    assert app.state.error == "" and app.state.ordering == ""
    assert app.state.status.startswith("conv2, image 0 (a), 8x6x10")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training run of 3 records whose first conv's weights grow each record."""
    import torch
    from torch import nn

    import volviz

    path = tmp_path_factory.mktemp("serve-run") / "run.h5"
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
    x = torch.rand(2, 1, 6, 8, generator=torch.Generator().manual_seed(0))
    with volviz.track(model, path, probe=x, layers=["0"]) as tracker:
        for t in range(3):
            with torch.no_grad():
                model[0].weight.mul_(1.0 + t)
            model(x).sum().backward()
            tracker.record(t, epoch=t, loss=1.0)
            model.zero_grad()
    return path


def test_step_slider_shows_each_record(tracked: Path, needs_gl: None) -> None:
    pytest.importorskip("trame")
    from volviz.cli.view import time_source
    from volviz.serve import make_app
    from volviz.serve.session import Choices, Session
    from volviz.store import Store

    with Store(tracked) as store:
        session = Session(store, Choices(layer="0"), window_size=(160, 120))
        session.time = time_source(store, follow=False)
        app = make_app(session, name="test-steps")
        try:
            assert app.state.has_time and app.state.n_steps == 3
            assert session.choices.step == 2  # starts at the newest record
            newest = session.panel.volume.copy()  # type: ignore[union-attr]
            rebuild(app, step=0)
            assert session.choices.step == 0
            with Store(tracked) as again:
                from volviz.store.timeline import Timeline

                first = Timeline(again).volume("0", 0, 0)
            np.testing.assert_array_equal(session.panel.volume, first)  # type: ignore[union-attr]
            assert not np.array_equal(first, newest)
            assert app.poll() is None and not session.poll()  # no new records
        finally:
            app.plotter.close()


def test_rebuilds_draw_into_the_one_view(app) -> None:  # type: ignore[no-untyped-def]
    """A scene change draws into the page's one render window (the view id never changes, no
    new GL context): the picture a new Plotter of the same scene shows, and clicks still
    answer from the new scene."""
    import dataclasses

    from tests.serve.store import BRIGHT, BRIGHT_VALUE
    from volviz.render.volume import screenshot_array
    from volviz.serve.session import Session

    plotter, window, view_id = app.plotter, app.plotter.ren_win, app.state["viewId"]
    steps = [
        {"scene": "compare"},  # two panels
        {"scene": "stack"},
        {"layer": "conv2", "scene": "slices"},
        {"layer": "conv1", "scene": "volume"},
    ]
    for changes in steps:
        rebuild(app, **changes)
        assert app.state.error == ""
        assert app.plotter is plotter and app.plotter.ren_win is window, changes
        assert app.state["viewId"] == view_id
        s = app.session
        fresh = Session(s.store, dataclasses.replace(s.choices), window_size=s.window_size)
        expected = screenshot_array(new := fresh.plotter())
        new.close()
        np.testing.assert_array_equal(frame(app), expected, err_msg=str(changes))
    assert app.plotter.shape == (1, 1)
    # the bright voxel (the only non-zero one) under its own screen position
    renderer = app.plotter.renderer
    dz, dy, dx = app.session.spacing
    c, r, col = BRIGHT
    renderer.SetWorldPoint(col * dx, r * dy, c * dz, 1.0)
    renderer.WorldToDisplay()
    x, y, _ = renderer.GetDisplayPoint()
    info = app.pick_at(round(x), round(y))
    assert info is not None
    assert (info["channel"], info["row"], info["column"]) == BRIGHT
    assert info["value"] == BRIGHT_VALUE
