"""volviz benchmarks. `python scripts/bench.py NAME` prints one JSON object on its last line.

NAME: capture | store | memory | ordering | export | gradients | render | scale | track |
similarity | demo | serve | all (the last nine live in scripts/bench_NAME.py, each also runnable
on its own).
Ratios are measured side by side in one process run; torch runs on 1 thread.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
# What volviz.capture sets for its users; set here before torch loads so baselines get it too.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
BATCH, BATCHES = 16, 4


def side_by_side(
    fns: list[Callable[[], Any]], repeat: int = 5, cleanup: Callable[[], Any] | None = None
) -> list[float]:
    """Best time of each function, run interleaved so machine noise hits all alike.

    ``cleanup`` runs untimed after each call (removing written files, so no run pays for
    freeing the previous run's page cache).
    """
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, bucket in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
            if cleanup:
                cleanup()
    return [min(t) for t in times]


def remove_files(folder: str | Path) -> Callable[[], None]:
    def clean() -> None:
        for path in Path(folder).iterdir():
            path.unlink()

    return clean


def allocator() -> str:
    keys = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "THP_MEM_ALLOC_ENABLE")
    set_ = {k: os.environ[k] for k in keys if k in os.environ}
    return json.dumps(set_) if set_ else "glibc default"


def _batch(n: int) -> Any:
    import torch

    from volviz.capture.inputs import InputImage
    from volviz.capture.models import EFFICIENTNET_LITE

    transform = EFFICIENTNET_LITE.transform()
    names = ["chelsea", "coffee", "rocket", "astronaut"]
    imgs = [transform(InputImage(f"sample:{m}", m).load()) for m in names]
    return torch.stack([imgs[i % len(imgs)] for i in range(n)])


def bench_capture() -> dict[str, Any]:
    """capture -> store wall time vs a plain forward, and vs forward + np.save of the same maps.

    Also against a forward whose hooks copy each conv output (``copying_forward_s``): the
    copies a capture by hand must make before np.save. Best of 5, interleaved.
    """
    import torch

    from volviz.capture.extract import capture
    from volviz.capture.hooks import capture_outputs
    from volviz.capture.layers import resolve_layers
    from volviz.capture.models import load_model

    torch.set_num_threads(1)
    x = _batch(BATCH * BATCHES)
    batches = x.split(BATCH)
    out: dict[str, Any] = {
        "batch": BATCH,
        "images": len(x),
        "threads": 1,
        "allocator": allocator(),
    }
    worst_fwd, worst_save = 0.0, 0.0
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for name in ("efficientnet-lite0", "alexnet"):
            model = load_model(name, seed=0)
            names = resolve_layers(model.module, ["conv"])
            with torch.no_grad():
                model.module(batches[0])  # warm-up
                with capture_outputs(model.module, names) as acts:
                    model.module(batches[0])
                arrays = {k: v.numpy() for k, v in acts.items()}

            def forward_only(m: Any = model) -> None:
                with torch.no_grad():
                    for b in batches:
                        m.module(b)

            def save(arrays: dict[str, np.ndarray] = arrays) -> None:
                for j in range(BATCHES):
                    for i, a in enumerate(arrays.values()):
                        np.save(f"{tmp}/a{j}_{i}.npy", a)

            def copying_forward(m: Any = model, names: list[str] = names) -> None:
                # what capturing by hand costs before np.save: a copy of every conv output
                # (torchvision's in-place ReLU rewrites an uncopied one)
                with torch.no_grad(), capture_outputs(m.module, names):
                    for b in batches:
                        m.module(b)

            target = Path(tmp) / "c.h5"

            def to_store(m: Any = model, names: list[str] = names, target: Path = target) -> None:
                capture(m, x, target, layers=names, force=True, batch_size=BATCH)

            forward, copying, npsave, store = side_by_side(
                [forward_only, copying_forward, save, to_store], 5, cleanup=remove_files(tmp)
            )
            mb = sum(a.nbytes for a in arrays.values()) / 2**20
            key = name.replace("-", "_")
            out[key] = {
                "conv_layers": len(names),
                "activation_mb_per_batch": round(mb, 1),
                "forward_s": round(forward, 3),
                "np_save_s": round(npsave, 3),
                "capture_to_store_s": round(store, 3),
                "capture_over_forward": round(store / forward, 3),
                "capture_over_forward_plus_save": round(store / (forward + npsave), 3),
                "copying_forward_s": round(copying, 3),
                "capture_over_copying_forward_plus_save": round(store / (copying + npsave), 3),
            }
            worst_fwd = max(worst_fwd, store / forward)
            worst_save = max(worst_save, store / (forward + npsave))
    out["capture_over_forward"] = round(worst_fwd, 3)
    out["capture_over_forward_plus_save"] = round(worst_save, 3)
    return out


def bench_store() -> dict[str, Any]:
    """StoreWriter throughput vs np.save on the same (16, 96, 112, 112) float32 array."""
    from volviz.store import StoreWriter

    rng = np.random.default_rng(0)
    array = rng.normal(size=(16, 96, 112, 112)).astype(np.float32)
    records = [{"source": "x", "name": str(i), "label": "", "sha256": ""} for i in range(16)]
    mb = array.nbytes / 2**20
    with tempfile.TemporaryDirectory(dir=".") as tmp:

        def write() -> None:
            with StoreWriter(Path(tmp) / "s.h5", force=True) as w:
                w.append(records, {"layer": array})

        h5, npy = side_by_side(
            [write, lambda: np.save(f"{tmp}/a.npy", array)], 9, cleanup=remove_files(tmp)
        )
    return {
        "array_mb": round(mb, 1),
        "store_mb_s": round(mb / h5, 1),
        "np_save_mb_s": round(mb / npy, 1),
        "store_write_over_npsave": round(npy / h5, 3),
    }


MEMORY_CHILD = """
import resource, sys, torch
torch.set_num_threads(1)
from volviz.capture.extract import capture
from volviz.capture.models import load_model
model = load_model("alexnet", seed=0)
capture(model, [sys.argv[1]], sys.argv[2], layers=["conv"], batch_size=16, force=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_memory() -> dict[str, Any]:
    """Peak RSS of a capture of 200 vs 2,000 small images (alexnet, all conv layers)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"model": "alexnet", "layers": "conv", "batch": 16}
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        for n in (200, 2000):
            folder = Path(tmp) / f"imgs{n}"
            folder.mkdir()
            for i in range(n):
                pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:05d}.png")
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", MEMORY_CHILD, str(folder), f"{tmp}/m{n}.h5"],
                capture_output=True,
                text=True,
                check=True,
            )
            seconds = time.perf_counter() - start
            out[f"peak_rss_mb_{n}"] = round(int(done.stdout.split()[-1]) / 1024, 1)
            out[f"images_per_s_{n}"] = round(n / seconds, 1)
            os.remove(f"{tmp}/m{n}.h5")
    out["rss_2000_over_200"] = round(out["peak_rss_mb_2000"] / out["peak_rss_mb_200"], 3)
    return out


def bench_module(name: str) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    module = __import__(f"bench_{name}")
    result: dict[str, Any] = module.run()
    return result


BENCHES: dict[str, Callable[[], dict[str, Any]]] = {
    "capture": bench_capture,
    "store": bench_store,
    "memory": bench_memory,
    "ordering": lambda: bench_module("ordering"),
    "export": lambda: bench_module("export"),
    "gradients": lambda: bench_module("gradients"),
    "render": lambda: bench_module("render"),
    "scale": lambda: bench_module("scale"),
    "track": lambda: bench_module("track"),
    "demo": lambda: bench_module("demo"),
    "similarity": lambda: bench_module("similarity"),
    "serve": lambda: bench_module("serve"),
}


def main(argv: list[str]) -> int:
    names = list(BENCHES) if argv == ["all"] else argv
    unknown = [n for n in names if n not in BENCHES]
    if not names or unknown:
        print(f"usage: bench.py {'|'.join(BENCHES)}|all (got {argv})", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    result: dict[str, Any] = {}
    for name in names:
        result[name] = BENCHES[name]()
        print(f"{name}: {json.dumps(result[name])}", file=sys.stderr)
    flat = result[names[0]] if len(names) == 1 else result
    flat["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(flat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
