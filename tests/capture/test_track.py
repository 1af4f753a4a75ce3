from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import volviz
from volviz.capture.digits import digits_data as volviz_digits
from volviz.errors import InputError, StoreError
from volviz.store import Store, validate
from volviz.store.timeline import Timeline, activation_change, weight_drift


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


def test_reader_follows_a_live_run(tmp_path):
    path = tmp_path / "live.h5"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import time, torch
            from torch import nn
            import volviz
            torch.manual_seed(0)
            model = nn.Sequential(nn.Conv2d(1, 4, 3))
            with volviz.track(model, {str(path)!r}, probe=torch.ones(2, 1, 6, 5)) as tr:
                for step in range(8):
                    with torch.no_grad():
                        model[0].weight.fill_(step + 1.0)
                        model[0].bias.zero_()
                    tr.record(step)
                    time.sleep(0.15)
        """),
        ],
    )
    try:
        deadline = time.time() + 60
        store = None
        while store is None and time.time() < deadline:
            try:  # locked until the writer has created everything and switched to SWMR
                store = Store(path, swmr=True)
            except StoreError:
                time.sleep(0.05)
        assert store is not None
        seen = []
        with store:
            line = Timeline(store)
            while writer.poll() is None and time.time() < deadline:
                n = line.refresh()
                if n:
                    acts = line.activations("0")
                    steps = line.steps
                    assert len(acts) >= n and len(steps) == n
                    # each complete step holds the activations of its own weights: 9 * (t + 1)
                    np.testing.assert_array_equal(acts[n - 1], np.full((2, 4, 4, 3), 9.0 * n))
                    seen.append(n)
                time.sleep(0.05)
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == 0
    assert len(set(seen)) >= 2  # saw the run grow while it was written


def test_bad_arguments(tiny, tmp_path):
    with pytest.raises(InputError, match="every=0"):
        volviz.track(tiny, tmp_path / "x.h5", probe=torch.ones(1, 1, 4, 4), every=0).__enter__()
    with pytest.raises(InputError, match=r"probe has shape \(4, 4\)"):
        volviz.track(tiny, tmp_path / "x.h5", probe=torch.ones(4, 4)).__enter__()
    assert not (tmp_path / "x.h5").exists()
