"""`volviz render --time`, `volviz view --follow` and the report's time section on a run
written by ``volviz.track``."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import volviz
import volviz.cli.view as view_module
from tests.helpers import error_line
from tests.helpers import run_cli as run
from volviz.cli.view import open_store, time_source
from volviz.errors import StoreError

STEPS = 4


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> Path:
    """Conv 1 -> 5 filters (3x3) and a 1x1 conv, 2 probe images of 9x12; every record
    scales the first conv's weights, so frames differ."""
    path = tmp_path_factory.mktemp("time-cli") / "run.h5"
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 3, 1))
    x = torch.rand(2, 1, 9, 12, generator=torch.Generator().manual_seed(0))
    with volviz.track(model, path, probe=x, layers=["0", "2"]) as tracker:
        for t in range(STEPS):
            with torch.no_grad():
                model[0].weight.mul_(1.0 + 0.5 * t)
            model(x).sum().backward()
            tracker.record(5 * t, epoch=t, loss=2.0 / (t + 1))
            model.zero_grad()
    return path


@pytest.mark.slow
def test_render_time_to_every_output(tracked, tmp_path, needs_gl):
    import imageio.v3 as iio

    base = ["render", str(tracked), "--time", "--layer", "0", "--size", "200x150"]
    run(*base, "--image", "1", "-o", str(tmp_path / "t.gif"))
    frames = iio.imread(tmp_path / "t.gif", index=None)
    assert len(frames) == STEPS
    assert np.abs(frames[-1].astype(int) - frames[0]).mean() > 0.5
    run(*base, "--frames", "3", "-o", str(tmp_path / "t.mp4"))
    import imageio.v2 as imageio

    with imageio.get_reader(tmp_path / "t.mp4") as reader:  # ffmpeg
        assert reader.count_frames() == 3
    run(*base, "--series", "weight", "--columns", "2", "-o", str(tmp_path / "w.png"))
    sheet = np.asarray(Image.open(tmp_path / "w.png").convert("L"), dtype=float)
    assert sheet.shape == (300, 400) and sheet.std() > 8  # 2x2 steps
    run(*base, "--series", "weight_grad", "--time-ordering", "none", "-o", str(tmp_path / "g.html"))
    text = (tmp_path / "g.html").read_text()
    assert (
        text.count('"name":"') >= STEPS
        and "sliders" in text
        and "weight_grad (sum over inputs)" in text
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.html", "t.gif", "t.mp4", "w.png"]


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    from volviz.store import StoreWriter

    path = tmp_path_factory.mktemp("plain") / "plain.h5"
    inputs = [{"source": "tensor", "name": "a", "label": "", "sha256": ""}]
    acts = {"c": np.random.default_rng(0).random((1, 4, 5, 6)).astype(np.float32)}
    with StoreWriter(path, attrs={"model": "test"}) as writer:
        writer.append(inputs, acts, layer_attrs={"c": {"module_type": "Conv2d"}})
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layer", "0", "--scene", "threshold"], "--time draws --scene volume"),
        (["--layer", "0", "--layer", "2"], "--time takes one --layer NAME"),
        (["--layer", "nope"], "--layer 'nope' is not in run.h5"),
        (["--layer", "0", "--ordering", "x", "--time-ordering", "first"], "not both"),
        (["--layer", "0", "--frames", "1"], "--frames 1 must be at least 2"),
        (["--layer", "0", "--image", "7"], "--image 7 is out of range"),
        (["--layer", "c", "PLAIN"], "plain.h5 holds no timeline"),
    ],
)
def test_bad_time_options_give_one_line_and_no_file(
    tracked, plain, tmp_path, args, message, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    store = str(plain) if "PLAIN" in args else str(tracked)
    args = [a for a in args if a != "PLAIN"]
    line = error_line(run("render", store, "--time", *args, "-o", "x.gif", ok=False))
    assert message in line
    assert list(tmp_path.iterdir()) == []


def test_view_follow_without_a_display_is_one_line(tracked):
    result = run("view", str(tracked), "--follow", ok=False, env={"DISPLAY": ""})
    assert "no display" in error_line(result)
    assert len(result.output.strip().splitlines()) == 1


def test_follow_waits_for_the_file_and_needs_a_run(tracked, plain, tmp_path, monkeypatch):
    # A fake clock: the test proves the waiting by what happens during it, not by wall time.
    clock, naps = [0.0], []
    later = tmp_path / "later.h5"

    def nap(seconds: float) -> None:
        naps.append(seconds)
        clock[0] += seconds
        if len(naps) == 3 and "appear" in str(later):
            shutil.copy(tracked, later)

    monkeypatch.setattr(view_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(view_module.time, "sleep", nap)
    with pytest.raises(StoreError, match="does not exist"):
        open_store(str(later), follow=True, wait=1.0)
    assert clock[0] >= 1.0 and not later.exists()  # polled until the deadline, then gave up
    naps.clear()
    later = tmp_path / "appear.h5"  # created by the third nap: found without a restart
    with open_store(str(later), follow=True, wait=60) as store:
        assert len(naps) == 3 and store.path == later
    monkeypatch.undo()
    with open_store(str(tracked), follow=True, wait=0) as store:
        assert time_source(store, follow=True).n_steps == STEPS
    with open_store(str(plain), follow=False, wait=0) as store:
        assert time_source(store, follow=False) is None
        with pytest.raises(click.UsageError, match="holds no training run"):
            time_source(store, follow=True)


@pytest.mark.slow
def test_report_has_a_time_section_for_a_tracked_store(tracked, plain, tmp_path):
    out = tmp_path / "report"
    run("-q", "report", str(tracked), "-o", str(out), "--no-3d")
    page = (out / "index.html").read_text()
    assert "Training over time" in page and "records</th><td>4 (steps 0..15" in page
    for name in ("time_loss.png", "0_time_drift.png", "0_time_top_drift.png"):
        assert f"src='{name}'" in page and (out / name).stat().st_size > 1000
    assert "2_time_activation_change.png" in page
    assert "filters that drifted most (final drift)" in page
    run("-q", "report", str(plain), "-o", str(tmp_path / "plain"), "--no-3d")
    assert "Training over time" not in (tmp_path / "plain" / "index.html").read_text()
