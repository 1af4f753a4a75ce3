"""Training-loop overhead of ``volviz.track``: `python scripts/bench_track.py` (JSON last line).

A small CNN on scikit-learn's digits (1,797 8x8 images), batch 32, 1 torch thread; the same
seeded loop untracked and tracked (every=50 and every=10 steps, probe of 16 images, all conv
layers), interleaved, best of 3. Records are what every=K costs; the first
record also creates the file.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

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
    best = {k: min(v) for k, v in times.items()}
    return {
        "steps": steps,
        "threads": 1,
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "track_overhead": round(best["every50"] / best["plain"], 3),
        "track_overhead_every10": round(best["every10"] / best["plain"], 3),
    }


if __name__ == "__main__":
    result = run()
    print(json.dumps(result))
