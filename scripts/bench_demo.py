"""First-impression benchmark: ``volviz demo`` and ``volviz report`` on the demo store.

``python scripts/bench_demo.py`` prints one JSON object on its last line; ``run()`` returns it.
Each command runs as a user runs it (a fresh ``volviz`` process, defaults), in one run:

- ``capture_seconds``: ``volviz capture`` of the demo's three photos with the demo's stages
  (model load and capture: the demo's own first step), the yardstick of this machine's speed;
- ``demo_seconds``: ``volviz demo`` (capture, stills, Grad-CAM, gradients, pruning check,
  report); goal <= 30 s on 2 cores;
- ``report_seconds_demo_store``: ``volviz report`` of the store the demo wrote; goal <= 10 s;
- the ratios of both to ``capture_seconds``, comparable across machines.

Every command is run ``repeat`` times interleaved (capture, demo, report, capture, ...) and the
best time of each is kept. ``load_before``/``load_after``: the 1-minute load average, since
other processes on the machine inflate every figure alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPEAT = 2


def _volviz(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from volviz.cli.main import main; main()", "-q", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return time.perf_counter() - start


def run(repeat: int = REPEAT) -> dict[str, Any]:
    from volviz.cli.demo import DEMO_INPUTS, DEMO_STAGE

    times: dict[str, list[float]] = {"capture": [], "demo": [], "report": []}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        out = Path(tmp)
        for _ in range(repeat):
            times["capture"].append(
                _volviz(
                    "capture",
                    *DEMO_INPUTS,
                    "-o",
                    str(out / "c.h5"),
                    "--stage",
                    DEMO_STAGE,
                    "--force",
                )
            )
            times["demo"].append(_volviz("demo", "--out", str(out / "demo"), "--force"))
            times["report"].append(
                _volviz("report", str(out / "demo" / "demo.h5"), "-o", str(out / "r"), "--force")
            )
    best = {k: min(v) for k, v in times.items()}
    return {
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "repeat": repeat,
        "capture_seconds": round(best["capture"], 2),
        "demo_seconds": round(best["demo"], 2),
        "report_seconds_demo_store": round(best["report"], 2),
        "demo_over_capture": round(best["demo"] / best["capture"], 2),
        "report_over_capture": round(best["report"] / best["capture"], 2),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    result = run(int(sys.argv[1]) if len(sys.argv) > 1 else REPEAT)
    print(json.dumps(result))
