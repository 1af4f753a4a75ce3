"""CKA and post-activation capture costs: `python scripts/bench_similarity.py` (JSON last line).

- ``cka_rss_5000_over_500``: peak RSS of ``volviz similarity`` (linear, minibatch 64) over a
  store of 5,000 vs 500 images (two layers of 16x32x32 float32: 640 MB vs 64 MB of
  activations), each in a fresh process: the streaming estimator should not grow with N.
- ``cka_s_per_1000_images_49x49``: wall time of all 49 x 49 EfficientNet-Lite0 conv layer
  pairs (layer shapes of the real model, random ReLU6-like values: the cost does not depend
  on the values) over 64 images in one minibatch of 64, scaled to 1,000 images. The cost per
  image grows linearly with the minibatch size (Gram matrices are m x m).
- ``capture_post_over_pre`` / ``capture_both_over_pre``: EfficientNet-Lite0 capture of 16
  images into a store, all conv layers, stage post or both vs pre, side by side.
Torch runs on 1 thread; numpy's BLAS is limited to 1 thread too (OMP/OPENBLAS vars).
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

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import numpy as np  # noqa: E402

CHILD = """
import resource, sys, time
from volviz.analysis.similarity import layer_similarity
from volviz.store import Store
start = time.perf_counter()
with Store(sys.argv[1]) as store:
    result = layer_similarity(store, batch_size=int(sys.argv[2]))
seconds = time.perf_counter() - start
# VmHWM: this process's own peak (ru_maxrss survives exec and can report the parent's).
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")]
kib = int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(seconds, kib)
"""


def _synthetic(path: Path, shapes: dict[str, tuple[int, ...]], n: int, block: int = 8) -> None:
    from volviz.store import StoreWriter

    rng = np.random.default_rng(0)
    with StoreWriter(path, attrs={"model": "synthetic"}) as writer:
        for i0 in range(0, n, block):
            b = min(block, n - i0)
            records = [
                {"source": "x", "name": f"im{i}", "label": "", "sha256": f"{i:08d}"}
                for i in range(i0, i0 + b)
            ]
            arrays = {k: 6 * rng.random((b, *s), dtype=np.float32) for k, s in shapes.items()}
            writer.append(records, arrays)


def _child(path: Path, batch: int) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(batch)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, rss = done.stdout.split()[-2:]
    return float(seconds), int(rss) / 1024


def bench_rss(tmp: Path) -> dict[str, Any]:
    shapes = {"a": (16, 32, 32), "b": (16, 32, 32)}
    out: dict[str, Any] = {"rss_layers": "2 x 16x32x32 float32", "rss_batch": 64}
    for n in (500, 5000):
        path = tmp / f"s{n}.h5"
        _synthetic(path, shapes, n, block=100)
        seconds, rss = _child(path, 64)
        out[f"cka_peak_rss_mb_{n}"] = round(rss, 1)
        out[f"cka_seconds_{n}"] = round(seconds, 2)
        path.unlink()
    out["cka_rss_5000_over_500"] = round(
        out["cka_peak_rss_mb_5000"] / out["cka_peak_rss_mb_500"], 3
    )
    return out


def _effnet_shapes() -> dict[str, tuple[int, ...]]:
    import torch

    from volviz.capture.layers import layer_table, resolve_layers
    from volviz.capture.models import load_model

    model = load_model(device="cpu").module
    convs = set(resolve_layers(model, ["conv"]))
    table = layer_table(model, torch.zeros(1, 3, 224, 224))
    return {f"{i.name}+post": tuple(i.shape[1:]) for i in table if i.name in convs and i.shape}


def bench_effnet(tmp: Path, n: int = 64) -> dict[str, Any]:
    shapes = _effnet_shapes()
    path = tmp / "effnet.h5"
    _synthetic(path, shapes, n)
    seconds, rss = _child(path, n)
    path.unlink()
    return {
        "effnet_layers": len(shapes),
        "effnet_mb_per_image": round(sum(4 * np.prod(s) for s in shapes.values()) / 2**20, 1),
        "effnet_images": n,
        "effnet_batch": n,
        "cka_seconds_effnet": round(seconds, 2),
        "cka_s_per_1000_images_49x49": round(seconds / n * 1000, 1),
        "cka_peak_rss_mb_effnet": round(rss, 1),
    }


def bench_capture(tmp: Path) -> dict[str, Any]:
    import torch
    from bench import _batch, side_by_side  # type: ignore[import-not-found]

    from volviz.capture.extract import capture
    from volviz.capture.models import load_model

    torch.set_num_threads(1)
    model = load_model(device="cpu")
    x = _batch(16)

    def run(stage: str) -> Any:
        return lambda: capture(model, x, tmp / f"{stage}.h5", stage=stage, force=True)

    pre, post, both = side_by_side([run("pre"), run("post"), run("both")], repeat=3)
    sizes = {s: (tmp / f"{s}.h5").stat().st_size / 2**20 for s in ("pre", "post", "both")}
    return {
        "capture_images": 16,
        "capture_pre_s": round(pre, 3),
        "capture_post_s": round(post, 3),
        "capture_both_s": round(both, 3),
        "capture_post_over_pre": round(post / pre, 3),
        "capture_both_over_pre": round(both / pre, 3),
        "store_mb_pre": round(sizes["pre"], 1),
        "store_mb_both": round(sizes["both"], 1),
    }


def run() -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    with tempfile.TemporaryDirectory(dir=".") as name:
        tmp = Path(name)
        start = time.perf_counter()
        out = {**bench_rss(tmp), **bench_effnet(tmp), **bench_capture(tmp)}
    out["bench_seconds"] = round(time.perf_counter() - start, 1)
    out["allocator"] = os.environ.get("THP_MEM_ALLOC_ENABLE", "") and "THP_MEM_ALLOC_ENABLE=1"
    return out


if __name__ == "__main__":
    print(json.dumps(run()))
