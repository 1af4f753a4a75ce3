"""Training-loop overhead of ``volviz.track``: `python scripts/bench_track.py` (JSON last line).

A small CNN on scikit-learn's digits (1,797 8x8 images), batch 32, 1 torch thread; the same
seeded loop untracked and tracked (every=50 and every=10 steps, probe of 16 images, all conv
layers), interleaved, best of 3. Records are what every=K costs; the first
record also creates the file.

Following a live run (``follow_poll_seconds_*``): a viewer state (no window) follows a run
that the tracker appends to in the same process, polling after every record as
``volviz view --follow``'s timer does. Two runs are followed side by side (a poll of one,
then of the other): the best of 20 polls (as ``bench.side_by_side``; the ratio of medians
too) over records 21-40 of one and 2,981-3,000 of the other. Probe of 16 images, conv 0
(16x8x8 per image), percentile display range over all records.
``follow_reread_seconds_3000_records``: what one poll cost before (re-reading every record
for the display range).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from volviz.capture.digits import digits_cnn, digits_data

EPOCHS = 12


def loop(net: nn.Module, x: torch.Tensor, y: torch.Tensor, tracker: Any = None) -> int:
    torch.manual_seed(1)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    step = 0
    for epoch in range(EPOCHS):
        for idx in torch.randperm(len(x)).split(32):
            loss = F.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            if tracker is not None:
                tracker.step(step, epoch=epoch, loss=loss.item())
            opt.step()
            opt.zero_grad()
            step += 1
    return step


def run() -> dict[str, Any]:
    import volviz

    torch.set_num_threads(1)
    x, y, _, _ = digits_data()
    probe = x[:16]
    times: dict[str, list[float]] = {"plain": [], "every50": [], "every10": []}
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for _ in range(3):
            for name in times:
                net = digits_cnn()
                start = time.perf_counter()
                if name == "plain":
                    steps = loop(net, x, y)
                else:
                    every = int(name.removeprefix("every"))
                    path = Path(tmp) / f"{name}.h5"
                    with volviz.track(net, path, probe=probe, every=every, force=True) as tr:
                        loop(net, x, y, tr)
                times[name].append(time.perf_counter() - start)
        follow_result = follow(tmp)
    best = {k: min(v) for k, v in times.items()}
    return {
        "steps": steps,
        "threads": 1,
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "track_overhead": round(best["every50"] / best["plain"], 3),
        "track_overhead_every10": round(best["every10"] / best["plain"], 3),
        **follow_result,
    }


class Followed:
    """A run the tracker grows in this process, followed by a viewer state (no window)."""

    def __init__(self, stack: ExitStack, path: Path) -> None:
        from volviz.capture.track import track
        from volviz.render import viewer
        from volviz.render.timeline import TimelineSource
        from volviz.store import Store
        from volviz.store.timeline import Timeline

        x, _, _, _ = digits_data()
        self.net = digits_cnn()
        self.tracker = stack.enter_context(
            track(self.net, path, probe=x[:16], layers=["0"], force=True)
        )
        self.tracker.record(0)
        self.store = stack.enter_context(Store(path, swmr=True))
        self.line = Timeline(self.store)
        self.state = viewer.ViewerState(
            layers=self.store.layers,
            image_names=[r["name"] for r in self.store.inputs],
            load=self.store.volume,
            time=TimelineSource(self.line),
            follow=True,
        )
        viewer.refresh(self.state)

    def grow(self) -> float:
        """Append one record (the weights change a little), poll; the poll's seconds."""
        from volviz.render import viewer

        t = self.tracker.steps_recorded
        with torch.no_grad():
            self.net[0].weight.mul_(1.001)  # type: ignore[operator]
        self.tracker.record(t)
        start = time.perf_counter()
        assert viewer.poll(self.state) is not None and self.state.time_index == t
        return time.perf_counter() - start


def follow(folder: str, records: int = 3000, polls: int = 20) -> dict[str, Any]:
    """Two runs followed side by side: polls at about 30 records and at ``records``."""
    from volviz.render.timeline import fixed_range

    with ExitStack() as stack:
        long, short = (Followed(stack, Path(folder) / f"{n}.h5") for n in ("long", "short"))
        spikes = [long.grow() for _ in range(records - polls - 1)]  # polled record by record
        for _ in range(30 - polls // 2 - 1):
            short.grow()
        times: dict[str, list[float]] = {"short": [], "long": []}
        for _ in range(polls):  # interleaved: machine load hits both alike
            times["short"].append(short.grow())
            times["long"].append(long.grow())
        start = time.perf_counter()  # what one poll cost before: every record re-read
        n = long.line.n_steps
        fixed_range(np.stack([long.line.volume("0", 0, t) for t in range(n)]), "percentile")
        reread = time.perf_counter() - start
    at_30, at_end = (min(times[k]) for k in ("short", "long"))
    median_30, median_end = (float(np.median(times[k])) for k in ("short", "long"))
    return {
        "follow_poll_seconds_30_records": round(at_30, 5),
        "follow_poll_seconds_3000_records": round(at_end, 5),
        "follow_poll_ratio_3000_vs_30": round(at_end / at_30, 3),
        "follow_poll_median_ratio_3000_vs_30": round(median_end / median_30, 3),
        "follow_poll_seconds_max": round(max(spikes + times["long"]), 5),
        "follow_reread_seconds_3000_records": round(reread, 4),
    }


if __name__ == "__main__":
    result = run()
    print(json.dumps(result))
