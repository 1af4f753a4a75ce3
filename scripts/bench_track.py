"""Training-loop overhead of ``volviz.track``: `python scripts/bench_track.py` (JSON last line).

A small CNN on scikit-learn's digits (1,797 8x8 images), batch 32, 1 torch thread; the same
seeded loop untracked and tracked (every=50 and every=10 steps, probe of 16 images, all conv
layers), interleaved, best of 3. Records are what every=K costs; the first
record also creates the file.

Following a live run (``follow_poll_seconds_*``): a viewer state (no window) follows a run
that the tracker appends to in the same process, polling after every record as
``volviz view --follow``'s timer does; the median of the 20 polls at records 21-40 and of
the 20 polls up to record 3,000 (probe of 16 images, conv 0: 16x8x8 per image, percentile display
range over all records). ``follow_reread_seconds_3000_records``: what one poll cost before
(re-reading every record for the display range).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
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


def follow(folder: str, records: int = 3000) -> dict[str, Any]:
    """Poll after every record of a growing run; the poll times at 30 and ``records``."""
    from volviz.capture.track import track
    from volviz.render import viewer
    from volviz.render.timeline import TimelineSource, fixed_range
    from volviz.store import Store
    from volviz.store.timeline import Timeline

    x, _, _, _ = digits_data()
    net = digits_cnn()
    conv = net[0]
    assert isinstance(conv, nn.Conv2d)
    path = Path(folder) / "follow.h5"
    polls: list[float] = []
    with track(net, path, probe=x[:16], layers=["0"], force=True) as tracker:
        tracker.record(0)
        with Store(path, swmr=True) as store:
            line = Timeline(store)
            state = viewer.ViewerState(
                layers=store.layers,
                image_names=[r["name"] for r in store.inputs],
                load=store.volume,
                time=TimelineSource(line),
                follow=True,
            )
            viewer.refresh(state)
            for t in range(1, records):
                with torch.no_grad():
                    conv.weight.mul_(1.001)
                tracker.record(t)
                start = time.perf_counter()
                assert viewer.poll(state) is not None and state.time_index == t
                polls.append(time.perf_counter() - start)
            start = time.perf_counter()  # the poll before: every record re-read
            volumes = np.stack([line.volume("0", 0, t) for t in range(line.n_steps)])
            fixed_range(volumes, "percentile")
            reread = time.perf_counter() - start
    # polls[i] follows record i + 1: records 21..40 and the last 20 records
    at_30, at_end = float(np.median(polls[20:40])), float(np.median(polls[-20:]))
    return {
        "follow_poll_seconds_30_records": round(at_30, 5),
        "follow_poll_seconds_3000_records": round(at_end, 5),
        "follow_poll_ratio_3000_vs_30": round(at_end / at_30, 3),
        "follow_poll_seconds_max": round(max(polls), 5),
        "follow_reread_seconds_3000_records": round(reread, 4),
    }


if __name__ == "__main__":
    result = run()
    print(json.dumps(result))
