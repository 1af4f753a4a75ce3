"""Volumes over training steps: series, stable ordering, fixed display range, animation
frames, the HTML time page (checked in headless Chromium) and the viewer following a live
run (plain callbacks, no window)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import volviz
from tests.render.test_outputs import chromium_check
from volviz.errors import VolvizError
from volviz.render import timeline as tl
from volviz.render import viewer
from volviz.render.animate import write_time_animation
from volviz.render.time_html import time_figure, write_time_html
from volviz.render.volume import Style
from volviz.store import Store
from volviz.store.timeline import Timeline

STEPS = 5


def conv_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 1))


def probe() -> torch.Tensor:
    """Two non-square images (10 rows, 14 columns)."""
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 1, 10, 14, generator=g)


def grow(model: nn.Module, t: int) -> None:
    """Filter o of the first conv is scaled by (1 + 0.3 * o) at every record: channels
    change at different rates, so frames differ and the display range spans them all."""
    with torch.no_grad():
        factors = 1.0 + 0.3 * torch.arange(6.0) * (t > 0)
        model[0].weight.mul_(factors[:, None, None, None])


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("time") / "run.h5"
    model = conv_model()
    with volviz.track(model, path, probe=probe(), layers=["0", "2"]) as tracker:
        for t in range(STEPS):
            grow(model, t)
            tracker.record(10 * t, epoch=t // 2, loss=1.0 / (t + 1))
    return path


@pytest.fixture
def series(run) -> tl.Series:
    with Store(run) as store:
        return tl.load_series(Timeline(store), "0", image=1)


def test_series_reads_every_record_with_labels(run, series):
    assert series.volumes.shape == (STEPS, 6, 10, 14)
    assert series.steps.tolist() == [0, 10, 20, 30, 40]
    assert series.labels[1] == "step 10  epoch 0  loss 0.5"
    assert "image 1 (probe[1])" in series.name
    with Store(run) as store:
        line = Timeline(store)
        np.testing.assert_array_equal(series.volumes[3], line.volume("0", 1, 3))
        part = tl.load_series(line, "0", data="weight", reduce="abs", frames=[0, 4])
        w = line.weights("0")
    assert part.volumes.shape == (2, 6, 3, 3) and part.quantity == "weight"
    np.testing.assert_allclose(part.volumes[1], np.abs(w[4]).sum(axis=1), rtol=1e-6)
    assert tl.pick_frames(10, 4).tolist() == [0, 3, 6, 9]
    assert tl.pick_frames(3).tolist() == [0, 1, 2]
    with pytest.raises(VolvizError, match="series='bias'"):
        tl.load_series(line, "0", data="bias")


def test_one_display_range_over_all_frames(series):
    lo, hi = tl.fixed_range(series.volumes, "minmax")
    assert (lo, hi) == (series.volumes.min(), series.volumes.max())
    shown = [tl.scale(v, lo, hi) for v in series.volumes]
    # weights only grow: so does the displayed contrast (per-frame scaling would hide that)
    spread = [float(s.std()) for s in shown]
    assert spread == sorted(spread) and spread[-1] > 1.5 * spread[0]
    clo, chi = tl.fixed_range(series.volumes, "channel")
    assert clo.shape == (6, 1, 1)
    np.testing.assert_allclose(chi[:, 0, 0], series.volumes.max(axis=(0, 2, 3)))
    nan = series.volumes.copy()
    nan[0] = np.nan  # a gradient before the first backward
    assert np.isfinite(tl.fixed_range(nan, "symmetric")).all()
    assert (tl.scale(nan[0], -1.0, 1.0, fill=0.5) == 0.5).all()


def test_stable_order_is_one_permutation_for_every_frame(series, needs_gl):
    import ordering

    order = tl.stable_order(series.volumes, "final")
    want = ordering.fit_order(series.volumes[-1], "best").order_
    np.testing.assert_array_equal(order.order, want)
    scene = tl.TimeScene(series, style=Style(window_size=(160, 120)), order=order)
    try:
        channels = {tuple(scene.arranged(t).channel_at) for t in range(len(scene))}
        assert channels == {tuple(want)}
    finally:
        scene.close()
    assert tl.stable_order(series.volumes, "none") is None
    with pytest.raises(VolvizError, match="time_ordering='last'"):
        tl.stable_order(series.volumes, "last")


def test_animation_has_one_frame_per_step_and_frames_change(series, tmp_path, needs_gl):
    import imageio.v3 as iio

    scene = tl.TimeScene(series, style=Style(window_size=(161, 121)))
    gif = write_time_animation(scene, tmp_path / "t.gif", fps=5)
    frames = iio.imread(gif, index=None)
    assert frames.shape[:3] == (STEPS, 120, 160)
    diffs = [np.abs(frames[t].astype(int) - frames[t - 1]).mean() for t in range(1, STEPS)]
    assert min(diffs) > 0.2, diffs  # the volume (and title) changes every step
    assert frames[-1].std() > 8  # not a blank frame
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.gif"]


def test_time_figure_has_a_frame_and_slider_step_per_record(series, monkeypatch):
    import pyvista as pv

    def refuse(*_, **__):
        pytest.fail("a VTK Plotter was built for the time page")

    monkeypatch.setattr(pv.Plotter, "__init__", refuse)
    scene = tl.TimeScene(series, style=Style(window_size=(160, 120)))
    fig = time_figure(scene)
    assert len(fig.frames) == STEPS
    for t, frame in enumerate(fig.frames):  # each frame: that record's scene values as bytes
        expected = np.round(scene.arranged(t).volume.ravel() * 255).astype(np.uint8)
        np.testing.assert_array_equal(np.asarray(frame.data[0].value), expected)
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0", "10", "20", "30", "40"]
    values = [np.asarray(f.data[0].value, dtype=float) for f in fig.frames]
    assert values[0].size == 6 * 10 * 14  # small: not pooled
    assert values[-1].mean() > values[0].mean() + 5
    assert "step 40" in fig.layout.title.text and "step 0" in fig.frames[0].layout.title.text


# Injected into a copy of the page: reports frames and sliders, then shows frame 0.
TIME_PROBE = """<script>
window.addEventListener('load', function () {
  setTimeout(function () {
    var gd = document.querySelector('.plotly-graph-div');
    var frames = gd._transitionData ? gd._transitionData._frames.length : 0;
    var sliders = document.querySelectorAll('.slider-container').length;
    console.log('VOLVIZ-FRAMES ' + frames + ' VOLVIZ-SLIDERS ' + sliders);
    Plotly.animate(gd, ['0'], {mode: 'immediate', frame: {duration: 0, redraw: true},
                               transition: {duration: 0}}).then(function () {
      console.log('VOLVIZ-TITLE ' + gd.layout.title.text.split('<br>')[1]);
    });
  }, 500);
});
</script>"""


@pytest.mark.slow
@pytest.mark.browser
def test_time_page_works_offline_in_chromium(series, tmp_path, needs_gl, chromium):
    scene = tl.TimeScene(series, style=Style(window_size=(320, 240)))
    page = write_time_html(scene, tmp_path / "run.html")
    text = page.read_text()
    assert "<script src=" not in text.replace('<script src="data:', "")
    copy = tmp_path / "copy.html"
    copy.write_text(text.replace("<head>", "<head>" + TIME_PROBE, 1))
    image, log = chromium_check(copy, tmp_path)
    console = [ln for ln in log.splitlines() if "CONSOLE" in ln]
    shown = "\n".join(console)
    assert not [
        ln for ln in console if re.search(r"VOLVIZ-UNCAUGHT|VOLVIZ-CONSOLE-ERROR|Uncaught", ln)
    ], shown
    assert any(f"VOLVIZ-FRAMES {STEPS} VOLVIZ-SLIDERS 1" in ln for ln in console), shown
    assert any("VOLVIZ-TITLE step 0  epoch 0" in ln for ln in console), shown
    assert any(re.search(r"VOLVIZ-WEBGL2 true VOLVIZ-TRACES [1-9]", ln) for ln in console), shown
    assert image.std() > 10, "blank page"


def test_viewer_follows_a_growing_run(tmp_path):
    path = tmp_path / "live.h5"
    model = conv_model()
    with volviz.track(model, path, probe=probe(), layers=["0"]) as tracker:
        tracker.record(0, epoch=0, loss=2.0)
        with Store(path, swmr=True) as store:
            state = viewer.ViewerState(
                layers=store.layers,
                image_names=[r["name"] for r in store.inputs],
                load=store.volume,
                time=tl.TimelineSource(Timeline(store)),
                follow=True,
                style=Style(normalization="minmax"),
            )
            viewer.refresh(state)
            first = state.raw.copy()
            assert "step 0  epoch 0  loss 2  (record 1/1, following)" in viewer.status(state)
            assert viewer.poll(state) is None  # nothing new yet
            for t in (1, 2):
                grow(model, t)
                tracker.record(10 * t, epoch=0, loss=1.0)
            line = viewer.poll(state)
            assert line is not None and "step 20" in line and "record 3/3, following" in line
            assert state.time_index == 2 and not np.allclose(state.raw, first)
            np.testing.assert_array_equal(state.raw, Timeline(store).volume("0", 0, 2))
            # the display range covers all records: the newest is the brightest
            assert state.arranged.volume.max() == pytest.approx(1.0)
            assert "record 2/3" in viewer.step_time(state, -1) and not state.follow
            grow(model, 3)
            tracker.record(30, epoch=1, loss=0.5)
            assert "record 2/4" in viewer.poll(state)  # stays where the user looked
            assert "record 4/4, following" in viewer.set_time(state, 99)


def test_viewer_window_with_a_step_slider(run, needs_gl):
    with Store(run, swmr=True) as store:
        state = viewer.ViewerState(
            layers=store.layers,
            image_names=[r["name"] for r in store.inputs],
            load=store.volume,
            time=tl.TimelineSource(Timeline(store)),
            style=Style(window_size=(320, 240)),
        )
        viewer.refresh(state)
        assert state.time_index == STEPS - 1 and "record 5/5" in viewer.status(state)
        plotter = viewer.build_viewer(state, off_screen=True, poll_ms=100)
        try:
            sliders = plotter.widgets.slider_widgets
            assert len(sliders) == 3
            rep = sliders[-1].GetRepresentation()
            assert (rep.GetMinimumValue(), rep.GetMaximumValue()) == (0.0, STEPS - 1.0)
            assert plotter.screenshot(return_img=True).std() > 5
        finally:
            plotter.close()


def test_the_window_timer_shows_new_records(tmp_path, needs_gl):
    path = tmp_path / "live.h5"
    model = conv_model()
    with volviz.track(model, path, probe=probe()[:1], layers=["0"]) as tracker:
        for t in range(2):
            tracker.record(t)
        with Store(path, swmr=True) as store:
            state = viewer.ViewerState(
                layers=store.layers,
                image_names=["a"],
                load=store.volume,
                time=tl.TimelineSource(Timeline(store)),
                follow=True,
                style=Style(window_size=(200, 150)),
            )
            plotter = viewer.build_viewer(viewer.refresh(state), off_screen=True, poll_ms=50)
            try:
                for t in (2, 3):
                    grow(model, t)
                    tracker.record(t)
                plotter.iren.interactor.InvokeEvent("TimerEvent")  # what the timer sends
                assert state.time_index == 3 and "record 4/4" in viewer.status(state)
                rep = plotter.widgets.slider_widgets[-1].GetRepresentation()
                assert (rep.GetMaximumValue(), rep.GetValue()) == (3.0, 3.0)
            finally:
                plotter.close()


@pytest.mark.parametrize("method", ["percentile", "symmetric", "minmax", "channel"])
def test_running_range_equals_fixed_range_record_by_record(method):
    """Fed one record at a time (NaNs included, tails forced to rebuild), the running range
    is the fixed range over every record so far."""
    from volviz.render.time_range import RunningRange, tail_for

    rng = np.random.default_rng(0)
    records = (
        rng.normal(size=(40, 3, 5, 7)).astype(np.float32) * np.arange(1, 41)[:, None, None, None]
    )
    records[::7, 0, 0, 0] = np.nan
    records[:, 2] = np.nan if method == "channel" else records[:, 2]  # a channel never finite
    running, rebuilds = RunningRange(method, tail=16), 0
    for t in range(len(records)):
        running.add(records[t : t + 1])
        if running.needs_rebuild:
            rebuilds += 1
            running = RunningRange(method, tail=2 * running.tail)
            running.add(records[: t + 1])
        lo, hi = running.limits()
        want_lo, want_hi = tl.fixed_range(records[: t + 1], method)
        np.testing.assert_allclose(lo, want_lo, rtol=1e-6)
        np.testing.assert_allclose(hi, want_hi, rtol=1e-6)
    assert rebuilds == (2 if method == "percentile" else 1 if method == "symmetric" else 0)
    # the 1st percentile of 10**6 values sits at rank 9999.99: the lowest 10001 values
    assert tail_for(10**6) == 2 * 10001 and tail_for(10) == 4096
    with pytest.raises(VolvizError, match=r"^normalization='log' is not one of"):
        RunningRange("log")


def test_timeline_source_limits_read_only_new_records(run):
    with Store(run) as store:
        line = Timeline(store)
        source = tl.TimelineSource(line)
        volumes = np.stack([line.volume("0", 1, t) for t in range(STEPS)])
        for method in ("percentile", "channel"):
            lo, hi = source.limits("0", 1, method)
            want = tl.fixed_range(volumes, method)
            np.testing.assert_allclose(lo, want[0], rtol=1e-6)
            np.testing.assert_allclose(hi, want[1], rtol=1e-6)
        assert source._ranges["0", 1, "percentile"].records == STEPS
        reads = []
        line.volumes = lambda *args: reads.append(args) or volumes[args[2] : args[3]]
        source.limits("0", 1, "percentile")  # nothing new: nothing read
        assert reads == []
