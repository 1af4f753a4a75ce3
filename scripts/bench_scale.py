"""Dataset-scale benchmark: memory vs N, one process vs a 2-worker Dask cluster, resume cost.

`python scripts/bench_scale.py` prints one JSON object on its last line with
``rss_2000_over_200`` (peak RSS of a 2,000-image capture over a 200-image one, each in a
fresh process), ``cluster_over_single_process_throughput`` (images/s of a 2-worker
LocalCluster, 1 thread each, over one process on 1 thread, same images) and
``resume_overhead`` (time of a run killed with SIGKILL halfway plus its ``resume`` run, over
an uninterrupted run; each timed inside its process, so interpreter start-up is excluded),
and from scripts/bench_compression.py ``compressed_capture_over_raw_capture`` and
``startup_s``. `python scripts/bench_scale.py compression startup` runs only those parts.

Model: torchvision AlexNet, seeded random weights, on synthetic 3x64x64 images streamed from
a torch Dataset (all five convs captured, batch 16, float32, torch on 1 thread).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
BATCH = 16


def model() -> Any:
    import torch
    import torchvision

    from volviz.capture.models import IMAGENET, LoadedModel, Preprocess

    torch.manual_seed(0)
    module = torchvision.models.alexnet(weights=None).eval()
    plain = Preprocess(64, 64, IMAGENET.mean, IMAGENET.std, "synthetic 64x64")
    return LoadedModel("alexnet", module, plain, [], "random", None, 0, torch.device("cpu"))


def images(n: int) -> Any:
    from torch.utils.data import Dataset

    class Synthetic(Dataset):
        """Image i is a seeded random tensor: the same content on every run (resume hashes)."""

        def __len__(self) -> int:
            return n

        def __getitem__(self, i: int) -> Any:
            import torch

            return torch.randn(3, 64, 64, generator=torch.Generator().manual_seed(i)), i % 10

    return Synthetic()


def child(out: str, n: int, resume: bool, stamp: str) -> None:
    """One capture in this process; prints seconds and peak RSS as JSON."""
    import torch

    from volviz.capture.extract import capture

    torch.set_num_threads(1)
    loaded, data = model(), images(n)
    Path(stamp).write_text(str(time.time()))
    start = time.perf_counter()
    capture(loaded, data, out, layers=["conv"], batch_size=BATCH, resume=resume)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss, "images_per_s": n / seconds}))


def spawn(out: Path, n: int, *, resume: bool = False, kill_after: float | None = None) -> Any:
    stamp = out.with_suffix(".start")
    args = [sys.executable, str(HERE), "--child", str(out), str(n), str(int(resume)), str(stamp)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if kill_after is None:
        done = subprocess.run(args, env=env, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
    while not stamp.is_file() or not stamp.read_text():
        time.sleep(0.01)
    started = float(stamp.read_text())
    time.sleep(max(0.0, started + kill_after - time.time()))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return time.time() - started


def memory(folder: Path) -> dict[str, Any]:
    small = spawn(folder / "n200.h5", 200)
    large = spawn(folder / "n2000.h5", 2000)
    return {
        "images_per_s_200": round(small["images_per_s"], 1),
        "images_per_s_2000": round(large["images_per_s"], 1),
        "rss_mb_200": round(small["rss_mb"], 1),
        "rss_mb_2000": round(large["rss_mb"], 1),
        "rss_2000_over_200": round(large["rss_mb"] / small["rss_mb"], 3),
    }


def resume_cost(folder: Path, n: int = 1000) -> dict[str, Any]:
    whole = spawn(folder / "whole.h5", n)["seconds"]
    killed = spawn(folder / "resumed.h5", n, kill_after=whole / 2)
    rest = spawn(folder / "resumed.h5", n, resume=True)["seconds"]
    return {
        "uninterrupted_s": round(whole, 2),
        "killed_after_s": round(killed, 2),
        "resumed_s": round(rest, 2),
        "resume_overhead": round((killed + rest) / whole, 3),
    }


def cluster(folder: Path, n: int = 2000) -> dict[str, Any]:
    import torch
    from dask.distributed import Client, LocalCluster

    from volviz.capture.distributed import capture_distributed, model_factory
    from volviz.capture.extract import capture

    torch.set_num_threads(1)
    loaded, data = model(), images(n)
    start = time.perf_counter()
    capture(loaded, data, folder / "single.h5", layers=["conv"], batch_size=BATCH)
    single = n / (time.perf_counter() - start)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as c,
        Client(c) as client,
    ):
        client.run(lambda: __import__("volviz.capture.extract"))  # warm the workers' imports
        start = time.perf_counter()
        capture_distributed(
            # Workers build the model themselves, as on a real cluster, instead of receiving
            # the 244 MB alexnet pickled from the client.
            model_factory("alexnet", seed=0),
            data,
            folder / "dist.h5",
            client=client,
            shards=4,
            layers=["conv"],
            batch_size=BATCH,
        )
        spread = n / (time.perf_counter() - start)
    return {
        "single_process_images_per_s": round(single, 1),
        "cluster_images_per_s": round(spread, 1),
        "cluster_over_single_process_throughput": round(spread / single, 3),
    }


def run(parts: list[str] | None = None) -> dict[str, Any]:
    """The measurements named in ``parts`` (default: all; several minutes on 2 cores)."""
    from bench_compression import compression, startup

    jobs = {
        "memory": memory,
        "resume": resume_cost,
        "cluster": cluster,
        "compression": compression,
        "startup": startup,
    }
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=".") as tmp:  # on disk, not a RAM /tmp
        for name in parts or list(jobs):
            out.update(jobs[name](Path(tmp)))
    out["model"] = "alexnet (random), 3x64x64 synthetic, batch 16, torch 1 thread"
    out["allocator"] = "THP_MEM_ALLOC_ENABLE=" + os.environ.get("THP_MEM_ALLOC_ENABLE", "")
    out["load_average_1min"] = round(os.getloadavg()[0], 1)
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5])
    else:
        sys.path.insert(0, str(HERE.parent))
        print(json.dumps(run(sys.argv[1:] or None)))
