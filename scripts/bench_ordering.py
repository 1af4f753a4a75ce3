"""Ordering benchmark: time of every method and its path length relative to the MST bound.

``python scripts/bench_ordering.py`` prints one JSON object on its last line; ``run()`` returns
it (``scripts/bench.py ordering`` calls it). Volumes: CNN-VIS conv1_cat.npy (96 x 55 x 55) and
two seeded synthetic ReLU layers with structure (512 x 14 x 14, 1280 x 7 x 7); pass more as
``run(volumes={"name": (C, H, W) or (N, C, H, W) array})`` (e.g. real EfficientNet-Lite0
layers). Each time is the best of ``repeat`` full ``fit`` calls (metrics included), BLAS
limited to 1 thread.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "cnn-vis"
CONV1_CAT = REFERENCE / "activations" / "conv1_cat.npy"
HELD_KARP_MAX_CHANNELS = 700  # 1,000 Prim MSTs: ~0.1 s at 96 channels, ~3 s at 672


def synthetic_layer(channels: int, size: int, *, seed: int) -> np.ndarray:
    """(C, size, size) float32 ReLU maps: 16 smooth prototype maps mixed by weights that drift
    along a random walk over channels (related channels exist, in no particular order), plus
    pixel noise; about half the values are 0."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    prototypes = gaussian_filter(rng.standard_normal((16, size, size)), (0, 1.5, 1.5))
    drift = np.cumsum(rng.standard_normal((channels, 16)) * 0.3, axis=0)
    weights = drift + rng.standard_normal((channels, 16))
    maps = weights @ prototypes.reshape(16, -1) + 0.3 * rng.standard_normal((channels, size**2))
    shuffled = rng.permutation(channels)  # the walk order must not be the channel order
    return np.maximum(maps[shuffled], 0).reshape(channels, size, size).astype(np.float32)


def _time_fit(volume: np.ndarray, method: str, repeat: int) -> tuple[float, Any]:
    from ordering import fit_order

    best, est = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        est = fit_order(volume, method)
        best = min(best, time.perf_counter() - start)
    return best, est


def bench_volume(volume: np.ndarray, *, repeat: int = 3) -> dict[str, Any]:
    """Seconds, path length and ratio to the MST bound of every method on one volume, plus the
    Held-Karp lower bound (volumes up to ``HELD_KARP_MAX_CHANNELS`` channels)."""
    from ordering import METHODS, distance_matrix
    from ordering.metrics import held_karp_bound

    result: dict[str, Any] = {"shape": list(volume.shape)}
    for method in METHODS:
        seconds, est = _time_fit(volume, method, repeat)
        metrics = est.metrics_
        result[method] = {
            "seconds": round(seconds, 4),
            "path_length": round(metrics["path_length"], 2),
            "ratio_to_mst": round(metrics["ratio_to_mst"], 4),
        }
    result["mst_bound"] = round(metrics["mst_bound"], 2)
    result["original_ratio_to_mst"] = round(metrics["original_ratio_to_mst"], 4)
    items = np.moveaxis(volume, 1, 0) if volume.ndim == 4 else volume  # channels first
    if items.shape[0] <= HELD_KARP_MAX_CHANNELS:
        dist = distance_matrix(items.reshape(items.shape[0], -1))
        bound = held_karp_bound(dist)
        result["held_karp_bound"] = round(bound, 2)
        result["held_karp_over_mst"] = round(bound / metrics["mst_bound"], 4)
        result["best_over_held_karp"] = round(result["best"]["path_length"] / bound, 5)
    return result


def run(volumes: dict[str, np.ndarray] | None = None, *, repeat: int = 3) -> dict[str, Any]:
    """Benchmark every method; return a JSON-ready dict (keys below plus one entry per volume).

    ``best_over_mst_conv1_cat``: path length of ``best`` / MST bound on conv1_cat.npy (goal
    <= 1.10). ``best_seconds_512_channels``: wall time of ``fit_order(volume, "best")`` for the
    512 x 14 x 14 volume (goal < 1 s). ``held_karp_over_mst_conv1_cat``: the Held-Karp lower
    bound (``held_karp_bound`` per volume, up to 700 channels) over the MST bound; no order is
    shorter than that bound, so a value > 1.10 means the 1.10 goal cannot be met there.
    """
    from threadpoolctl import threadpool_limits

    all_volumes: dict[str, np.ndarray] = {}
    if CONV1_CAT.is_file():
        all_volumes["conv1_cat"] = np.load(CONV1_CAT)
    all_volumes["synthetic_512x14x14"] = synthetic_layer(512, 14, seed=512)
    all_volumes["synthetic_1280x7x7"] = synthetic_layer(1280, 7, seed=1280)
    all_volumes.update(volumes or {})
    out: dict[str, Any] = {
        "threads": 1,
        "python": platform.python_version(),
        "allocator": os.environ.get("MALLOC_MMAP_THRESHOLD_", "glibc default"),
    }
    with threadpool_limits(limits=1):
        for name, volume in all_volumes.items():
            out[name] = bench_volume(volume, repeat=repeat)
    if "conv1_cat" in out:
        conv1 = out["conv1_cat"]
        out["best_over_mst_conv1_cat"] = conv1["best"]["ratio_to_mst"]
        out["held_karp_over_mst_conv1_cat"] = conv1["held_karp_over_mst"]
        out["best_over_held_karp_conv1_cat"] = conv1["best_over_held_karp"]
    out["best_seconds_512_channels"] = out["synthetic_512x14x14"]["best"]["seconds"]
    out["best_over_mst_512_channels"] = out["synthetic_512x14x14"]["best"]["ratio_to_mst"]
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(json.dumps(run()))
