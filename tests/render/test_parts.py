"""Transfer functions, orderings, weight volumes, normalization and sampling: no window."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import REFERENCE
from volviz.errors import VolvizError
from volviz.render.ordered import ChannelOrder, arrange
from volviz.render.transfer import PRESETS, opacity_curve
from volviz.render.volume import (
    from_image_data,
    interactive_sampling,
    still_sampling,
    to_image_data,
)
from volviz.render.weights import as_volume, load_npy, reduce_input_channels
from volviz.store.views import display_range, normalize, parse_spacing


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_are_opacities_and_scale_and_floor_apply(preset):
    curve = opacity_curve(preset)
    assert curve.shape == (256,) and curve.min() >= 0 and curve.max() <= 1
    assert curve.max() > 0.3
    np.testing.assert_allclose(opacity_curve(preset, scale=0.5), curve * 0.5)
    floored = opacity_curve(preset, floor=0.6)
    level = np.abs(np.linspace(-1, 1, 256)) if preset == "diverging" else np.linspace(0, 1, 256)
    assert (floored[level < 0.6] == 0).all()


def test_sparse_hides_exactly_zero_and_linear_is_identity():
    sparse = opacity_curve("sparse")
    assert sparse[0] == 0 and sparse[1] > 0.03
    np.testing.assert_allclose(opacity_curve("linear"), np.linspace(0, 1, 256))
    diverging = opacity_curve("diverging")
    assert diverging[127] < 0.01 and diverging[0] == diverging[-1] > 0.5
    with pytest.raises(VolvizError, match="preset='fog'"):
        opacity_curve("fog")
    with pytest.raises(VolvizError, match="opacity_scale=-1"):
        opacity_curve("linear", scale=-1)


def test_arrange_permutes_inserts_gaps_and_maps_back():
    volume = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((5, 2, 3), np.float32)
    order = ChannelOrder(np.array([3, 1, 4, 0, 2]), np.array([2, 4]), "k")
    shown = arrange(volume, order, gap=2, fill=-1.0)
    assert shown.volume.shape == (9, 2, 3)
    assert shown.channel_at.tolist() == [3, 1, -1, -1, 4, 0, -1, -1, 2]
    assert shown.volume[:, 0, 0].tolist() == [3, 1, -1, -1, 4, 0, -1, -1, 2]
    assert shown.clusters == ((0, 2), (4, 6), (8, 9))
    assert shown.original_channel(4) == 4 and shown.original_channel(2) is None
    assert shown.slice_of(0) == 5 and shown.axis_title == "position (k)"
    plain = arrange(volume)
    assert plain.channel_at.tolist() == [0, 1, 2, 3, 4] and plain.volume is volume


def test_orderings_are_checked():
    with pytest.raises(VolvizError, match="ordering 'bad' is not a permutation of 0..2"):
        ChannelOrder(np.array([0, 0, 1]), name="bad")
    with pytest.raises(VolvizError, match="has 3 channels, the volume has 4"):
        arrange(np.zeros((4, 1, 1)), ChannelOrder(np.array([2, 1, 0])))
    with pytest.raises(VolvizError, match="boundaries outside"):
        ChannelOrder(np.array([1, 0]), np.array([5]))


def test_weight_reductions():
    w = np.array([[[[1.0, -2.0]], [[3.0, 4.0]]]], np.float32)  # (1, 2, 1, 2)
    np.testing.assert_allclose(reduce_input_channels(w, "sum"), [[[4.0, 2.0]]])
    np.testing.assert_allclose(reduce_input_channels(w, "abs"), [[[4.0, 6.0]]])
    np.testing.assert_allclose(reduce_input_channels(w, "l2"), [[[np.sqrt(10), np.sqrt(20)]]])
    with pytest.raises(VolvizError, match="reduce='max' is not one of"):
        reduce_input_channels(w, "max")
    assert as_volume(np.zeros((2, 3, 4))).shape == (2, 3, 4)
    assert as_volume(np.zeros((5, 2, 3, 4)), index=1).shape == (2, 3, 4)  # (N, C, H, W)
    assert as_volume(np.zeros((5, 6, 3, 4, 4)), index=0).shape == (6, 4, 4)
    with pytest.raises(VolvizError, match=r"pick one sample with index=0"):
        as_volume(np.zeros((5, 6, 3, 4, 4)))
    with pytest.raises(VolvizError, match="expected \\(C, H, W\\)"):
        as_volume(np.zeros((3, 4)))


def test_load_npy_reads_cnnvis_gradients(tmp_path):

    path = REFERENCE / "gradients"
    volume = load_npy(path / "conv1_pembroke.npy", reduce="sum")
    raw = np.load(path / "conv1_pembroke.npy")
    np.testing.assert_allclose(volume, raw.sum(axis=1), rtol=1e-6)
    (tmp_path / "bad.npy").write_bytes(b"nope")
    with pytest.raises(VolvizError, match="path='.*bad.npy' is not a readable"):
        load_npy(tmp_path / "bad.npy")


def test_shared_and_symmetric_normalization():
    a = np.array([[[0.0, 2.0]]], np.float32)
    b = np.array([[[0.0, 4.0]]], np.float32)
    limits = display_range([a, b], "minmax")
    assert limits == (0.0, 4.0)
    np.testing.assert_allclose(normalize(a, "minmax", limits=limits)[0], [[[0.0, 0.5]]])
    signed = np.array([[[-2.0, 0.0, 1.0]]], np.float32)
    shown, label = normalize(signed, "symmetric")
    assert shown[0, 0, 1] == pytest.approx(0.5) and "symmetric" in label
    assert shown[0, 0, 0] == pytest.approx(0.0, abs=0.01)


def test_spacing_and_round_trip_and_sampling():
    assert parse_spacing("auto") is None and parse_spacing("2,1,0.5") == (2.0, 1.0, 0.5)
    with pytest.raises(VolvizError, match="spacing='1,2'"):
        parse_spacing("1,2")
    volume = np.random.default_rng(0).random((4, 3, 5)).astype(np.float32)
    for cells in (False, True):
        grid = to_image_data(volume, (3.0, 1.0, 1.0), "v", cells=cells)
        np.testing.assert_array_equal(from_image_data(grid, "v"), volume)
    grid = to_image_data(volume, (0.25, 1.0, 1.0), "v")
    # never the mappers' fixed 1.0: half the finest voxel when stills, coarser when moving
    assert still_sampling(grid).sample_distance == pytest.approx(0.125)
    moving = interactive_sampling(grid)
    assert moving.sample_distance >= 0.25 and moving.image_sample_distance == 3.0


def test_scene_errors_speak_python():
    from volviz.render.build import Panel, SceneSpec, build, load_panels, stack_layers
    from volviz.render.volume import Style

    with pytest.raises(
        VolvizError, match=r"^nothing to show: give store \(a volviz store\) or npys$"
    ):
        load_panels(None, SceneSpec())
    with pytest.raises(VolvizError, match=r"^scene='volume' needs at least one layer \(layers\)$"):
        load_panels(object(), SceneSpec())
    with pytest.raises(VolvizError, match=r"^scene='stack' needs a volviz store \(store\)$"):
        stack_layers(None, SceneSpec(scene="stack"))
    panel = Panel(np.ones((2, 3, 4), np.float32), "a")
    with pytest.raises(VolvizError) as info:
        build(SceneSpec(), Style(), [panel, panel])
    assert str(info.value) == "scene='volume' shows one volume, not 2; use scene='compare' for more"
    with pytest.raises(VolvizError, match=r"^scene='channel' needs channel \(an original channel"):
        build(SceneSpec(scene="channel"), Style(), [panel])
