"""The viewer's callbacks as plain functions, and the wired window built offscreen."""

from __future__ import annotations

import numpy as np
import pytest

from volviz.render import viewer
from volviz.render.ordered import ChannelOrder
from volviz.render.volume import Style, to_image_data


@pytest.fixture
def state() -> viewer.ViewerState:
    rng = np.random.default_rng(0)
    volumes = {
        ("conv1", 0): rng.random((6, 4, 5)).astype(np.float32),
        ("conv1", 1): rng.random((6, 4, 5)).astype(np.float32),
        ("conv2", 0): rng.random((3, 7, 2)).astype(np.float32),
        ("conv2", 1): rng.random((3, 7, 2)).astype(np.float32),
    }
    rev = ChannelOrder(np.arange(6)[::-1].copy(), np.array([3]), "rev")
    s = viewer.ViewerState(
        layers=["conv1", "conv2"],
        image_names=["cat", "dog"],
        load=lambda layer, i: volumes[(layer, i)],
        ordering_of=lambda layer: rev if layer == "conv1" else None,
        style=Style(window_size=(320, 240)),
    )
    return viewer.refresh(s)


def test_sliders_change_the_opacity_curve(state):
    curve = viewer.set_threshold(state, 0.5)
    assert state.threshold == 0.5 and (curve[:127] == 0).all() and curve[-1] > 0
    scaled = viewer.set_opacity_scale(state, 0.5)
    np.testing.assert_allclose(scaled, curve * 0.5)
    assert (viewer.set_threshold(state, 7.0)[:-1] == 0).all() and state.threshold == 1.0


def test_keys_step_images_and_layers_with_wraparound(state):
    assert "image 1 dog" in viewer.step_image(state, 1)
    assert "image 0 cat" in viewer.step_image(state, 1)
    line = viewer.step_layer(state, -1)
    assert line.startswith("conv2 (2/2)") and "3x7x2" in line
    assert state.raw.shape == (3, 7, 2)


def test_toggle_ordering_and_pick_reports_the_original_channel(state):
    info = viewer.pick(state, (0, 1, 2))
    assert info == {
        "layer": "conv1",
        "image": "cat",
        "channel": 0,
        "position": 0,
        "row": 1,
        "column": 2,
        "value": pytest.approx(float(state.raw[0, 1, 2])),
    }
    assert "ordered by rev" in viewer.toggle_order(state)
    info = viewer.pick(state, (1, 3, 4))
    assert info["channel"] == 4 and info["position"] == 1
    assert info["value"] == pytest.approx(float(state.raw[4, 3, 4]))
    text = viewer.describe_pick(info)
    assert "channel 4 (slice 1)" in text and "row 3" in text and "column 4" in text
    assert viewer.pick(state, (0, 9, 0)) is None  # outside
    assert "original order" in viewer.toggle_order(state)
    viewer.step_layer(state, 1)
    assert viewer.toggle_order(state) == "no stored ordering for conv2"


def test_world_to_voxel_and_slice_plane():
    volume = np.zeros((4, 3, 5), np.float32)
    grid = to_image_data(volume, (2.0, 1.0, 1.0), "activation")
    assert viewer.world_to_voxel(grid, (4.1, 1.9, 6.2)) == (3, 2, 4)
    plane = viewer.slice_plane(grid, (0, 0, 1), (2, 1, 4))
    assert plane.n_points == 15 and np.allclose(plane.points[:, 2], 4)


def test_interaction_switches_sampling(state, needs_gl):
    plotter = viewer.build_viewer(state, off_screen=True)
    try:
        volume = next(
            a for a in plotter.renderer.actors.values() if a.GetClassName() == "vtkVolume"
        )
        grid = volume.mapper.dataset
        viewer.interaction_sampling(volume, grid, True)
        assert volume.mapper.GetImageSampleDistance() == 3.0
        viewer.interaction_sampling(volume, grid, False)
        assert volume.mapper.GetImageSampleDistance() == 1.0
        image = plotter.screenshot(return_img=True)
        assert image.std() > 5
    finally:
        plotter.close()
