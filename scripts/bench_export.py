"""Write throughput of every voxel export format, for a deep-narrow and a shallow-wide volume.

Usage: ``python scripts/bench_export.py``; the last line printed is JSON. ``run()`` returns the
same dict. Throughput is the float32 input size divided by the median (and best) wall time of one
``exporters.write_volume`` call (validation, encoding, temp file, rename), measured on the same
random ReLU-like volumes (half zeros) for every format, in one process, one after another.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import exporters

SHAPES = {"1280x7x7": (1280, 7, 7), "32x112x112": (32, 112, 112)}
CASES: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "vti": ("v.vti", None, {}),
    "nrrd": ("v.nrrd", None, {}),
    "nifti": ("v.nii", None, {}),
    "nifti-gz": ("v.nii.gz", None, {}),
    "mhd": ("v.mhd", None, {}),
    "npy": ("v.npy", None, {}),
    "legacy-vox": ("v.vox", "legacy-vox", {}),
    "magicavoxel": ("v.vox", "magicavoxel", {"oversize": "downsample"}),
    "binvox": ("v.binvox", None, {}),
}
MIN_SECONDS = 0.3
MIN_REPEATS, MAX_REPEATS = 3, 30


def _volume(shape: tuple[int, int, int]) -> np.ndarray:
    rng = np.random.default_rng(0)
    vol = rng.standard_normal(shape).astype(np.float32)
    return np.maximum(vol, 0.0)


def _time_one(folder: Path, vol: np.ndarray, case: tuple[str, str | None, dict[str, Any]]) -> dict:
    name, fmt, options = case
    times: list[float] = []
    written: list[Path] = []
    while len(times) < MAX_REPEATS and (len(times) < MIN_REPEATS or sum(times) < MIN_SECONDS):
        start = time.perf_counter()
        written = exporters.write_volume(folder / name, vol, fmt=fmt, overwrite=True, **options)  # type: ignore[arg-type]
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "mb_per_s": round(vol.nbytes / 1e6 / seconds, 1),
        "median_s": round(seconds, 6),
        "best_mb_per_s": round(vol.nbytes / 1e6 / min(times), 1),
        "repeats": len(times),
        "file_bytes": sum(p.stat().st_size for p in written),
    }


def run() -> dict[str, Any]:
    """Benchmark every format on both volumes; returns a JSON-ready dict."""
    results: dict[str, dict[str, dict[str, Any]]] = {}
    input_mb: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        folder = Path(tmp)
        for label, shape in SHAPES.items():
            vol = _volume(shape)
            results[label] = {fmt: _time_one(folder, vol, case) for fmt, case in CASES.items()}
            input_mb[label] = round(vol.nbytes / 1e6, 3)
    return {
        "benchmark": "export write throughput (MB/s of float32 input)",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "allocator": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
        or "glibc default",
        "input_mb": input_mb,
        "results": results,
    }


def main() -> None:
    report = run()
    for label, per_format in report["results"].items():
        print(f"{label} ({report['input_mb'][label]} MB float32):")
        for fmt, row in per_format.items():
            print(
                f"  {fmt:12s} {row['mb_per_s']:9.1f} MB/s median {row['best_mb_per_s']:9.1f} best"
                f"  {row['file_bytes']:>9d} B"
            )
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
