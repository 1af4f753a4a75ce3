"""Store codecs and checksums in a real capture; where a 1-image capture's seconds go.

`python scripts/bench_compression.py` prints one JSON object on its last line (also part of
`python scripts/bench_scale.py`):

``compressed_capture_over_raw_capture``
    Per codec: ``throughput`` (raw capture time / this codec's capture time; >= 0.9 is the
    goal) and ``size`` (raw store bytes / this store's bytes; >= 2 is the goal). Raw is the
    default store: float32, no compression, Fletcher32 checksums.
``checksum_capture_over_unchecksummed``
    Raw capture time with Fletcher32 over the same capture without it.
``bytes_per_image_by_layer_kind``
    Per codec and dtype: stored bytes per image, summed over full, depthwise and pointwise
    convolutions.
``byte_plane_entropy_bound``
    The most any codec that shuffles bytes into planes and codes each plane on its own (what
    Blosc2's shuffle + LZ4/Zstd and gzip do at best) could gain on the raw store: 32 bits over
    the summed order-0 entropies of the four byte planes of the float32 values, and of the
    two planes of the same values as float16 (against float32 raw).
``startup_s``
    A fresh process capturing one image: interpreter + imports, model build, the capture.

Model: EfficientNet-Lite0 (embedded ImageNet weights), all 49 convolutions, the four bundled
photos (chelsea, coffee, rocket, astronaut) repeated to 64 images (4 batches of 16: a
capture's throughput, not only its first and last batch), torch on 1 thread; the captures
of one round run one after another, best of 3 rounds (gzip: 1).
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

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
IMAGES, BATCH, ROUNDS = 64, 16, 3
# (label, dtype, codec, checksum)
CONFIGS = [
    ("raw", "float32", "none", True),
    ("raw-no-checksum", "float32", "none", False),
    ("gzip", "float32", "gzip", True),
    ("blosc-lz4", "float32", "blosc-lz4", True),
    ("blosc-zstd", "float32", "blosc-zstd", True),
    ("blosc2-lz4", "float32", "blosc2-lz4", True),
    ("blosc2-zstd-bitshuffle", "float32", "blosc2-zstd-bitshuffle", True),
    ("raw-float16", "float16", "none", True),
    ("blosc-lz4-float16", "float16", "blosc-lz4", True),
    ("blosc-zstd-float16", "float16", "blosc-zstd", True),
    ("blosc2-lz4-float16", "float16", "blosc2-lz4", True),
]
SLOW = ("gzip",)  # measured in the first round only: 10x off the goal, 25 s a run


def _kind(module: Any) -> str:
    if module.groups > 1 and module.groups == module.in_channels:
        return "depthwise"
    return "pointwise" if tuple(module.kernel_size) == (1, 1) else "full"


def _sizes(path: Path, kinds: dict[str, str], n: int) -> dict[str, int]:
    import h5py

    out = dict.fromkeys(sorted(set(kinds.values())), 0)
    with h5py.File(path, "r") as f:
        for key, kind in kinds.items():
            out[kind] += f[f"layers/{key}/activations"].id.get_storage_size()
    return {k: round(v / n) for k, v in out.items()}


def entropy_bound(path: Path, names: list[str]) -> dict[str, float]:
    """``byte_plane_entropy_bound`` of the store at ``path`` (see the module docstring)."""
    import h5py
    import numpy as np

    def plane_bits(values: np.ndarray) -> float:
        planes = values.view(np.uint8).reshape(values.size, -1)
        bits = 0.0
        for k in range(planes.shape[1]):
            p = np.bincount(planes[:, k], minlength=256) / values.size
            p = p[p > 0]
            bits -= float((p * np.log2(p)).sum())
        return bits * values.size

    total = {"float32": 0.0, "float16": 0.0}
    count = 0
    with h5py.File(path, "r") as f:
        for name in names:
            values = f[f"layers/{name}/activations"][:].ravel()
            total["float32"] += plane_bits(values)
            total["float16"] += plane_bits(values.astype(np.float16))
            count += values.size
    return {k: round(32 * count / v, 2) for k, v in total.items()}


def compression(folder: Path) -> dict[str, Any]:
    """Every codec captured side by side with the raw capture (see the module docstring)."""
    import torch
    from bench import _batch  # the bundled photos, preprocessed

    import volviz.store.writer as writer
    from volviz.capture.extract import capture
    from volviz.capture.layers import resolve_layers
    from volviz.capture.models import load_model

    torch.set_num_threads(1)
    model = load_model("efficientnet-lite0")
    names = resolve_layers(model.module, ["conv"])
    modules = dict(model.module.named_modules())
    kinds = {n: _kind(modules[n]) for n in names}
    x = _batch(IMAGES)
    with_checksum = writer.dataset_filters
    times: dict[str, float] = {}
    sizes: dict[str, dict[str, int]] = {}
    files: dict[str, int] = {}
    for round_ in range(ROUNDS):
        for label, dtype, codec, checksum in CONFIGS:
            if round_ and label in SLOW:
                continue
            target = folder / f"{label}.h5"
            writer.dataset_filters = (  # type: ignore[assignment]
                with_checksum
                if checksum
                else lambda c: {k: v for k, v in with_checksum(c).items() if k != "fletcher32"}
            )
            start = time.perf_counter()
            capture(model, x, target, layers=names, batch_size=BATCH, dtype=dtype, compress=codec)
            times[label] = min(times.get(label, 1e9), time.perf_counter() - start)
            if round_ == 0:
                files[label] = target.stat().st_size
                sizes[label] = _sizes(target, kinds, IMAGES)
                if label == "raw":
                    bound = entropy_bound(target, names)
            target.unlink()
    writer.dataset_filters = with_checksum  # type: ignore[assignment]
    raw = times["raw"]
    ratios = {
        label: {
            "throughput": round(raw / times[label], 3),
            "size": round(files["raw"] / files[label], 2),
        }
        for label, *_ in CONFIGS
        if label not in ("raw", "raw-no-checksum")
    }
    return {
        "compressed_capture_over_raw_capture": ratios,
        "byte_plane_entropy_bound": bound,
        "checksum_capture_over_unchecksummed": round(raw / times["raw-no-checksum"], 3),
        "raw_capture_images_per_s": round(IMAGES / raw, 2),
        "raw_store_mb_per_image": round(files["raw"] / IMAGES / 2**20, 1),
        "bytes_per_image_by_layer_kind": sizes,
        "layers_by_kind": {k: list(kinds.values()).count(k) for k in sorted(set(kinds.values()))},
        "compression_setup": (
            f"efficientnet-lite0, {len(names)} convs, 4 bundled photos x {IMAGES // 4}, batch "
            f"{BATCH}, torch 1 thread, best of {ROUNDS}, "
            f"BLOSC_NTHREADS={os.environ.get('BLOSC_NTHREADS', 'unset')}"
        ),
    }


STARTUP = """
import json, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
from volviz.capture.extract import capture
from volviz.capture.models import load_model
t2 = time.perf_counter()
model = load_model("efficientnet-lite0")
t3 = time.perf_counter()
capture(model, ["sample:chelsea"], OUT, layers=["conv"])
t4 = time.perf_counter()
print(json.dumps({"import_torch": t1 - t0, "import_volviz": t2 - t1, "model": t3 - t2,
                  "capture_1_image": t4 - t3}))
"""


def startup(folder: Path) -> dict[str, Any]:
    """A fresh process capturing one image, split into its steps (best of 3)."""
    best: dict[str, float] = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for i in range(3):
        out = folder / f"one{i}.h5"
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", STARTUP.replace("OUT", repr(str(out)))],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        steps = json.loads(done.stdout.strip().splitlines()[-1])
        steps["interpreter_and_exit"] = wall - sum(steps.values())
        steps["total"] = wall
        for key, value in steps.items():
            best[key] = min(best.get(key, 1e9), value)
        out.unlink()
    return {"startup_s": {k: round(v, 2) for k, v in best.items()}}


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    parts = sys.argv[1:] or ["compression", "startup"]
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        result: dict[str, Any] = {}
        for part in parts:
            result.update({"compression": compression, "startup": startup}[part](Path(tmp)))
    result["load_average_1min"] = round(os.getloadavg()[0], 1)
    print(json.dumps(result))
