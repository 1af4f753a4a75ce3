"""Rendering benchmark: seconds per frame at 600x600 px on this machine's (software) GL.

``python scripts/bench_render.py`` prints one JSON object on its last line; ``run()`` returns
it. Volumes: CNN-VIS conv1_cat.npy (96 x 55 x 55), seeded smooth ReLU maps of 256 x 27 x 27
and 1,280 x 7 x 7, and the layer stack of EfficientNet-Lite0's 49 conv layers for one 224 px
image (synthetic maps of the real shapes, 6.5 M voxels). Per volume, side by side in one
process:

- ``frame_seconds_<shape>``: an interactive frame (camera moving): what ``volviz view`` draws
  while dragging (GPU ray caster, about 200 steps per box diagonal, one ray per 3x3 pixels);
  for the stack, its one-volume stand-in (all layers resampled into one coarse grid) that
  replaces the 49 layer volumes while the camera moves;
- ``still_seconds_<shape>``: the full-quality frame drawn when the camera stops and for PNGs
  (half a voxel of the finest axis, at most 1,000 steps per diagonal, every pixel);
- ``spine_seconds_<shape>``: the first version's frame (``smart`` mapper, half-voxel steps).

Each figure is the median of ``frames`` renders after a warm-up frame, the camera turning 3
degrees between renders.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONV1_CAT = ROOT / "tests" / "data" / "cnn-vis" / "activations" / "conv1_cat.npy"
SIZE = (600, 600)
# EfficientNet-Lite0's conv outputs for a 224 px input (volviz layers --conv-only), in order.
EFFNET_CONVS = (
    "32x112x112 32x112x112 16x112x112 96x112x112 96x56x56 24x56x56 144x56x56 144x56x56 "
    "24x56x56 144x56x56 144x28x28 40x28x28 240x28x28 240x28x28 40x28x28 240x28x28 240x14x14 "
    "80x14x14 480x14x14 480x14x14 80x14x14 480x14x14 480x14x14 80x14x14 480x14x14 480x14x14 "
    "112x14x14 672x14x14 672x14x14 112x14x14 672x14x14 672x14x14 112x14x14 672x14x14 672x7x7 "
    "192x7x7 1152x7x7 1152x7x7 192x7x7 1152x7x7 1152x7x7 192x7x7 1152x7x7 1152x7x7 192x7x7 "
    "1152x7x7 1152x7x7 320x7x7 1280x7x7"
)


def relu_maps(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """Smooth ReLU-like maps: about half zeros, blobs a few pixels wide."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    noise = gaussian_filter(rng.standard_normal(shape), (0, 1.0, 1.0))
    return np.maximum(noise, 0).astype(np.float32)


def frame_seconds(plotter: Any, frames: int) -> float:
    """Median seconds of one render, turning the camera between renders."""
    plotter.screenshot(return_img=True)  # the first frame builds textures and shaders
    times = []
    for _ in range(frames):
        plotter.camera.Azimuth(3.0)
        start = time.perf_counter()
        plotter.ren_win.Render()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _volumes_of(plotter: Any) -> list[Any]:
    import pyvista as pv

    return [a for a in plotter.renderer.actors.values() if isinstance(a, pv.Volume)]


def _modes(build: Any, frames: int) -> dict[str, float]:
    """Interactive and still frame of one scene, measured on one plotter."""
    from volviz.render.stack import set_moving
    from volviz.render.volume import apply_sampling, interactive_sampling, still_sampling

    plotter = build()
    proxy = plotter.__dict__.get("volviz_moving", (None, []))[0]
    try:
        out = {}
        for mode, sampling in (("frame", interactive_sampling), ("still", still_sampling)):
            moving = mode == "frame"
            if proxy is not None:
                set_moving(plotter, moving)
            else:
                for actor in _volumes_of(plotter):
                    apply_sampling(actor, sampling(actor.mapper.dataset))
            out[mode] = frame_seconds(plotter, frames)
        return out
    finally:
        plotter.close()


def _spine(volume: np.ndarray, frames: int) -> float:
    """The first version's volume frame: smart mapper, sample distance half a voxel."""
    import pyvista as pv

    from volviz.render.volume import auto_spacing, normalize, to_image_data

    shown, _ = normalize(volume)
    spacing = auto_spacing(volume.shape)
    plotter = pv.Plotter(off_screen=True, window_size=list(SIZE))
    actor = plotter.add_volume(
        to_image_data(shown, spacing, "a"),
        scalars="a",
        clim=(0, 1),
        opacity=[0.0, 0.0, 0.02, 0.12, 0.35, 0.7],
        mapper="smart",
    )
    actor.mapper.SetAutoAdjustSampleDistances(False)
    actor.mapper.SetSampleDistance(0.5 * min(spacing))
    plotter.camera_position = "iso"
    try:
        return frame_seconds(plotter, frames)
    finally:
        plotter.close()


def run(frames: int = 8) -> dict[str, Any]:
    import volviz.render  # noqa: F401  (EGL window, import order)
    from volviz.render.stack import stack_plotter
    from volviz.render.volume import Style, volume_plotter

    style = Style(window_size=SIZE)
    volumes = {
        "96x55x55": np.load(CONV1_CAT),
        "256x27x27": relu_maps((256, 27, 27), seed=1),
        "1280x7x7": relu_maps((1280, 7, 7), seed=2),
    }
    out: dict[str, Any] = {}
    for name, volume in volumes.items():
        modes = _modes(lambda v=volume: volume_plotter(v, style=style), frames)
        out[f"frame_seconds_{name}"] = modes["frame"]
        out[f"still_seconds_{name}"] = modes["still"]
        out[f"spine_seconds_{name}"] = _spine(volume, frames)
    shapes = [tuple(int(n) for n in s.split("x")) for s in EFFNET_CONVS.split()]
    layers = [(f"conv{i}", relu_maps(s, seed=10 + i)) for i, s in enumerate(shapes)]  # type: ignore[arg-type]
    modes = _modes(lambda: stack_plotter(layers, style=style), max(3, frames // 2))
    out["frame_seconds_stack"] = modes["frame"]
    out["still_seconds_stack"] = modes["still"]
    out["stack_layers"] = len(layers)
    out["stack_voxels"] = int(sum(v.size for _, v in layers))
    out["window"] = f"{SIZE[0]}x{SIZE[1]}"
    out["gl"] = os.environ.get("VTK_DEFAULT_OPENGL_WINDOW", "default")
    out["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, Mesa llvmpipe (no GPU)"
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


if __name__ == "__main__":
    print(json.dumps(run()))
