from __future__ import annotations

import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import volviz
from volviz.capture.digits import digits_data as volviz_digits
from volviz.errors import InputError, StoreError
from volviz.render.timeline import TimelineSource
from volviz.store import Store, validate
from volviz.store.timeline import Timeline, activation_change, weight_drift
from volviz.store.validate import run_summary


def digits_data(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, _, _ = volviz_digits()
    return x[:n], y[:n]


def digits_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


def train(model: nn.Module, tracker=None, epochs: int = 2) -> list[float]:
    x, y = digits_data()
    torch.manual_seed(1)  # dropout and shuffling draw from here: tracking must not disturb it
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses, step = [], 0
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(x)).split(32):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            if tracker is not None:
                tracker.step(step, epoch=epoch, loss=loss.item())
            opt.step()
            opt.zero_grad()
            losses.append(loss.item())
            step += 1
    return losses


def test_tracking_does_not_change_training_and_round_trips(tmp_path):
    plain = digits_cnn()
    want = train(plain)
    model = digits_cnn()
    probe = digits_data()[0][:4]
    with volviz.track(model, tmp_path / "run.h5", probe=probe, every=5) as tracker:
        got = train(model, tracker)
    assert got == want
    for a, b in zip(plain.parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert validate(tmp_path / "run.h5") == []
    with Store(tmp_path / "run.h5") as store:
        line = Timeline(store)
        assert line.steps.tolist() == list(range(0, 16, 5))
        np.testing.assert_allclose(line.loss, [want[s] for s in line.steps], rtol=1e-6)
        assert store.layers == ["0", "3"]
        w = line.weights("0")
        assert w.shape == (4, 8, 1, 3, 3)
        np.testing.assert_array_equal(store.volume("0", 2), line.volume("0", 2, -1))
        # Gradients are what backward left in .grad at that step: finite and changing.
        g = line.weight_grads("3")
        assert np.isfinite(g).all() and not np.allclose(g[0], g[-1])
        drift = weight_drift(w)
        assert drift.shape == (4, 8) and (drift[0] == 0).all() and (drift[-1] > 0).all()
        change = activation_change(line.activations("3"))
        assert change.shape == (4, 16) and (change[0] == 0).all() and change[1:].sum() > 0


def test_recorded_values_are_exact(tiny, tiny_input, tmp_path):
    with volviz.track(tiny, tmp_path / "t.h5", probe=tiny_input, layers=["conv1"]) as tracker:
        for step in range(3):
            with torch.no_grad():
                tiny.conv1.weight.mul_(2.0)
            tracker.record(step, epoch=0, loss=float(step))
    with Store(tmp_path / "t.h5") as store:
        line = Timeline(store)
        w = line.weights("conv1")
        np.testing.assert_array_equal(w[2], 2 * w[1])
        np.testing.assert_array_equal(w[1], 2 * w[0])
        assert np.isnan(line.weight_grads("conv1")).all()  # no backward ran
        a = line.activations("conv1")  # conv1 has bias 0 and -1: a_t = 2^t * (x * k) + b
        np.testing.assert_allclose(a[2] - a[1], 2 * (a[1] - a[0]), rtol=1e-6)


# A writer whose record t holds exact values: conv weights t + 1, activations 9 (t + 1) on a
# probe of ones, epoch t, loss t. "lockstep" waits for the reader's go (a file) after each
# record; "free" records as fast as it can until told to stop.
WRITER = """
import sys, time, torch
from pathlib import Path
from torch import nn
import volviz
torch.set_num_threads(1)
path, mode = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 4, 3))
with volviz.track(model, path, probe=torch.ones(2, 1, 6, 5)) as tr:
    for step in range(100000):
        with torch.no_grad():
            model[0].weight.fill_(step + 1.0)
            model[0].bias.zero_()
        tr.record(step, epoch=step, loss=float(step))
        go = Path(f"{path}.{'go' + str(step) if mode == 'lockstep' else 'stop'}")
        deadline = time.monotonic() + 60
        while mode == "lockstep" and not go.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        if go.exists() and (mode == "free" or step == 5):
            break
"""


def start_writer(path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), mode])


def wait_for(condition, what: str, seconds: float = 120.0):
    """Poll ``condition()`` until it returns a true value (deadline ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def open_live(path, writer):
    """The store, once the writer has created it and switched to SWMR."""

    def attempt():
        assert writer.poll() is None, "the writer exited early"
        try:
            return Store(path, swmr=True)
        except StoreError:
            return None

    return wait_for(attempt, "the writer to create the file")


def check_consistent(line: Timeline, n: int) -> None:
    """Every read of a refreshed timeline holds exactly the n complete records."""
    assert line.steps.tolist() == list(range(n))
    assert line.epochs.tolist() == list(range(n)) and line.loss.tolist() == list(range(n))
    np.testing.assert_array_equal(line.volume("0", 1, n - 1), np.full((4, 4, 3), 9.0 * n))
    np.testing.assert_array_equal(line.weights("0")[n - 1], np.full((4, 1, 3, 3), float(n)))


@pytest.mark.slow
def test_reader_follows_a_live_run(tmp_path):
    path = tmp_path / "live.h5"
    writer = start_writer(path, "lockstep")
    try:
        with open_live(path, writer) as store:
            line = Timeline(store)
            for t in range(6):  # the writer waits after each record: every count is seen
                n = wait_for(lambda t=t: line.refresh() == t + 1 and t + 1, f"record {t}")
                check_consistent(line, n)
                label = TimelineSource(line).label(-1)
                assert label == f"step {n - 1}  epoch {n - 1}  loss {n - 1}"
                (tmp_path / f"live.h5.go{t}").touch()
    finally:
        for t in range(6):  # let a writer left waiting go on to its end
            (tmp_path / f"live.h5.go{t}").touch()
        writer.wait(timeout=60)
    assert writer.returncode == 0
    assert validate(path) == []


@pytest.mark.slow
def test_refresh_against_a_writer_at_full_speed(tmp_path):
    """Refresh while a writer appends as fast as it can: every refresh is self-consistent
    (IndexError here was issue 20: columns refreshed before ``step``)."""
    path = tmp_path / "fast.h5"
    writer = start_writer(path, "free")
    counts = []
    try:
        with open_live(path, writer) as store:
            line = Timeline(store)
            source = TimelineSource(line)
            while len(counts) < 300 and writer.poll() is None:
                n = line.refresh()
                if n == 0:
                    continue
                check_consistent(line, n)
                assert source.limits("0", 0, "minmax") == (9.0, 9.0 * n)
                newest = store.volume("0", 0)  # the newest record: never a mix of two
                assert newest.min() == newest.max() >= 9.0 * n
                counts.append(n)
    finally:
        (tmp_path / "fast.h5.stop").touch()
        writer.wait(timeout=60)
    assert writer.returncode == 0, "the writer stopped before the reader finished"
    assert len(counts) == 300 and len(set(counts)) > 1  # it grew while being read
    assert validate(path) == []


TRAINER = """
import sys, torch
from torch.nn import functional as F
import volviz
from volviz.capture.digits import digits_cnn, digits_data
torch.set_num_threads(1)
x, y, _, _ = digits_data()
model = digits_cnn()
opt = torch.optim.SGD(model.parameters(), lr=0.05)
with volviz.track(model, sys.argv[1], probe=x[:4], every=2) as tracker:
    for step in range(10**9):  # trains until killed
        idx = torch.arange(32 * step, 32 * step + 32) % len(x)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        tracker.step(step, epoch=0, loss=loss.item())
        opt.step()
        opt.zero_grad()
"""


@pytest.mark.slow
def test_a_killed_training_run_stays_readable(tmp_path, gl_ok):
    from PIL import Image

    from tests.helpers import run_cli

    path = tmp_path / "run.h5"
    trainer = subprocess.Popen([sys.executable, "-c", TRAINER, str(path)])
    try:
        store = open_live(path, trainer)
        with store:
            line = Timeline(store)
            wait_for(lambda: line.refresh() >= 6, "6 complete records")
    finally:
        trainer.send_signal(signal.SIGKILL)
        trainer.wait(timeout=60)
    assert trainer.returncode == -signal.SIGKILL
    with Store(path) as store:  # the write flag is still set: read-only SWMR, found alone
        assert store.writing and store.swmr
        line = Timeline(store)
        n = line.n_steps
        assert n >= 6 and line.steps.tolist() == list(range(0, 2 * n, 2))
        assert np.isfinite(line.loss).all() and np.isfinite(line.weight_grads("0")).all()
        np.testing.assert_array_equal(store.volume("0", 3), line.volume("0", 3, -1))
    out = run_cli("info", path).output
    assert f"{n} complete records (steps 0..{2 * n - 2})" in " ".join(out.split())
    assert "marked open for writing" in " ".join(out.split())
    result = run_cli("validate", path)
    assert f"valid volviz store; training run with {n} complete records" in result.output
    assert validate(path) == []
    if not gl_ok:
        pytest.skip("no offscreen OpenGL here: info and validate checked, render not")
    run_cli("render", path, "--time", "--layer", "0", "--size", "200x150", "-o", tmp_path / "t.png")
    sheet = np.asarray(Image.open(tmp_path / "t.png").convert("L"), dtype=float)
    assert sheet.shape == (300, 800) and sheet.std() > 5  # 8 of n >= 6 records, 4 a row
    run_cli("render", path, "--layer", "3", "--size", "200x150", "-o", tmp_path / "v.png")
    assert np.asarray(Image.open(tmp_path / "v.png").convert("L"), dtype=float).std() > 5


@pytest.mark.slow
def test_files_left_open_for_writing_outside_swmr_give_one_clear_error(tmp_path):
    died = tmp_path / "died.h5"
    code = "import h5py, os, sys; f = h5py.File(sys.argv[1], 'w', libver='latest'); f.flush()"
    subprocess.run([sys.executable, "-c", f"{code}; os.kill(os.getpid(), 9)", str(died)])
    with pytest.raises(StoreError, match="left open for writing by a process that did not"):
        Store(died)
    busy = tmp_path / "busy.h5"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"{code}; print('open', flush=True); sys.stdin.read()", str(busy)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "open\n"
        with pytest.raises(StoreError, match="being written by another process"):
            Store(busy)
    finally:
        holder.communicate("", timeout=60)


def test_bad_arguments(tiny, tmp_path):
    with pytest.raises(InputError, match="every=0"):
        volviz.track(tiny, tmp_path / "x.h5", probe=torch.ones(1, 1, 4, 4), every=0).__enter__()
    with pytest.raises(InputError, match=r"probe has shape \(4, 4\)"):
        volviz.track(tiny, tmp_path / "x.h5", probe=torch.ones(4, 4)).__enter__()
    assert not (tmp_path / "x.h5").exists()


def test_validate_counts_complete_records_and_flags_broken_series(tiny, tiny_input, tmp_path):
    path = tmp_path / "t.h5"
    with volviz.track(tiny, path, probe=tiny_input, layers=["conv1"]) as tracker:
        for step in range(3):
            tracker.record(10 * step)
    with Store(path) as store:
        assert run_summary(store) == "training run with 3 complete records (steps 0..20)"
        assert not store.writing and not store.swmr
    with h5py.File(path, "r+") as f:  # what a writer killed mid-record leaves: one more row
        f["layers/conv1/timeline_activations"].resize(4, axis=0)
    assert validate(path) == []
    with Store(path) as store:
        assert run_summary(store).endswith("and 1 incomplete record after them (ignored)")
    with h5py.File(path, "r+") as f:
        f["layers/conv1/weight"].resize(1, axis=0)
    assert validate(path) == [
        "/layers/conv1/weight holds 1 records, but /timeline/step counts 3 complete ones"
    ]
