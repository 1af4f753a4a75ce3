"""Benchmark of `volviz serve` in a real browser (Playwright + system chromium).

- latency: a threshold slider change to the new frame arriving in the browser (the next image
  message on the page's websocket; the served page draws a coarse frame at once and the
  full-quality one when the slider rests: ``slider_to_frame_s`` and ``slider_to_full_frame_s``,
  the last frame before 3 s without frames), median of several changes, beside the server's
  own frame times for the same scene (render + grab, still and coarse), for a 96x55x55
  volume and the 49-layer EfficientNet-Lite0 stack (chelsea) at 800x600;
- frames per second arriving while the camera is dragged round (the rotation case);
- a scene rebuild (another layer; the stack drawn again): in the browser, a layer switch to
  its first and its last frame (``layer_switch_to_frame_s``, ``layer_switch_to_full_frame_s``,
  the volume case), and on the server, side by side, a rebuild into a new Plotter (what the
  page did before: a new render window and GL context) and into the page's one Plotter, each
  to its first frame (``window_rebuild_new_plotter_s``, ``window_rebuild_reused_s``);
- memory: the server's RSS after loading the page and stepping through images, for a
  20-image and a 2,000-image store of the same layer (it reads one volume at a time).

Run: `python scripts/bench.py serve` (or this file). JSON on the last line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ARGS = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--no-sandbox"]
VIEW = (800, 600)
LOG: list[str] = []  # the servers' output
# the page's side panels (300 + 280 px) and app bar (48 px) around the 800x600 view
VIEWPORT = {"width": VIEW[0] + 580, "height": VIEW[1] + 48}


def _store(
    path: Path, n: int, shape: tuple[int, int, int], layers: tuple[str, ...] = ("conv",)
) -> Path:
    from volviz.store import StoreWriter

    rng = np.random.default_rng(0)
    inputs = [{"source": "bench", "name": f"i{i}", "label": "", "sha256": ""} for i in range(n)]
    with StoreWriter(path, attrs={"model": "bench"}) as writer:
        for start in range(0, n, 50):
            size = min(50, n - start)
            blocks = {
                layer: np.maximum(rng.standard_normal((size, *shape)), 0).astype(np.float32)
                for layer in layers
            }
            writer.append(inputs[start : start + size], blocks)
    return path


def _effnet_store(path: Path) -> Path:
    from volviz.capture.extract import capture
    from volviz.capture.models import load_model

    capture(load_model(), ["sample:chelsea"], path, layers=["conv"])
    return path


def _serve(path: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "VTK_DEFAULT_OPENGL_WINDOW": "vtkEGLRenderWindow"}
    code = "import sys; from volviz.cli.main import main; main(sys.argv[1:])"
    cmd = [sys.executable, "-c", code, "serve", str(path), "--port", "0", *extra]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert proc.stdout is not None
    end = time.monotonic() + 120
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if match := re.search(r"open (http://\S+)", line):
            # keep reading: a full pipe would block the server
            threading.Thread(target=lambda: LOG.extend(proc.stdout), daemon=True).start()  # type: ignore[arg-type]
            return proc, match.group(1)
    proc.kill()
    msg = f"volviz serve {path} printed no URL"
    raise RuntimeError(msg)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def _rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]


class Frames:
    """Times at which image messages arrive on the page's websockets."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.times: list[float] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._on))

    def _on(self, payload: Any) -> None:
        if isinstance(payload, bytes) and len(payload) > 2000:  # an image, not state
            self.times.append(time.perf_counter())

    def after(self, t0: float, deadline: float = 30.0) -> float:
        end = time.perf_counter() + deadline
        while time.perf_counter() < end:
            later = [t for t in self.times if t > t0]
            if later:
                return later[0] - t0
            # Playwright delivers events only while it is called: wait through it.
            self.page.wait_for_timeout(2)
        return float("nan")

    def settled(self, t0: float, quiet: float = 3.0, deadline: float = 60.0) -> float:
        """Time from ``t0`` to the last frame before ``quiet`` seconds without frames."""
        end = time.perf_counter() + deadline
        while time.perf_counter() < end:
            later = [t for t in self.times if t > t0]
            if later and time.perf_counter() - later[-1] >= quiet:
                return later[-1] - t0
            self.page.wait_for_timeout(2)
        return float("nan")


def _open(browser: Any, url: str) -> tuple[Any, Frames]:
    page = browser.new_page(viewport=VIEWPORT)
    frames = Frames(page)
    page.goto(url)
    page.wait_for_selector("#status", timeout=60000)
    frames.after(time.perf_counter() - 60, deadline=60)  # the first picture
    # until the page has settled: a scene switched before the view's first full-size picture
    # would be ignored by trame-vtk's client
    frames.settled(time.perf_counter() - 60)
    return page, frames


def _latency(page: Any, frames: Frames, changes: int = 8) -> tuple[float, float]:
    """Median seconds from a threshold click to the first and to the full-quality frame."""
    page.wait_for_selector(".v-slider-track", timeout=30000)
    track = page.locator(".v-input", has_text="threshold").locator(".v-slider-track").first
    box = track.bounding_box()
    first, full = [], []
    for i in range(changes):
        x = box["x"] + box["width"] * (0.1 + 0.6 * ((i % 2) ^ 1) + 0.02 * i)
        t0 = time.perf_counter()
        page.mouse.click(x, box["y"] + box["height"] / 2)
        first.append(frames.after(t0))
        full.append(frames.settled(t0))
    return round(statistics.median(first), 4), round(statistics.median(full), 4)


def _rotation_fps(page: Any, frames: Frames, seconds: float = 4.0) -> float:
    canvas = page.locator("canvas").first.bounding_box()
    cx, cy = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    t0 = time.perf_counter()
    step = 0
    while time.perf_counter() - t0 < seconds:
        step += 1
        page.mouse.move(cx + 150 * np.sin(step / 10), cy + 50 * np.cos(step / 10))
        page.wait_for_timeout(10)
    page.mouse.up()
    t1 = time.perf_counter()
    n = len([t for t in frames.times if t0 < t <= t1])
    return round(n / (t1 - t0), 2)


def _layer_switch(page: Any, frames: Frames, layers: list[str], changes: int = 4) -> list[float]:
    """Median seconds from choosing another layer to its first and to its last frame."""
    first, full = [], []
    for i in range(changes):
        page.locator(".v-input", has_text="layer").first.click()
        option = page.locator(".v-overlay .v-list-item", has_text=layers[(i + 1) % 2]).first
        option.wait_for(timeout=30000)
        page.wait_for_timeout(500)  # the list's opening animation (the click would wait for it)
        t0 = time.perf_counter()
        option.click()
        first.append(frames.after(t0))
        full.append(frames.settled(t0))
    return [round(statistics.median(first), 4), round(statistics.median(full), 4)]


def _window_rebuild_s(path: Path, scene: str, repeats: int = 4) -> dict[str, float]:
    """Seconds from a rebuild (the next layer, or the stack again) to its first frame on the
    server, into a new Plotter (then closed, as the page did) and into one reused Plotter."""
    from volviz.render.volume import screenshot_array
    from volviz.serve.session import Choices, Session
    from volviz.store import Store

    out: dict[str, float] = {}
    with Store(path) as store:
        layers = list(store.layers)
        session = Session(store, Choices(layer=layers[0], scene=scene), window_size=VIEW)
        kept = session.plotter()
        screenshot_array(kept)
        times: dict[str, list[float]] = {"new_plotter": [], "reused": []}
        for i in range(repeats):
            for how in times:
                session.replace(layer=layers[(i + 1) % len(layers)])
                start = time.perf_counter()
                if how == "reused":
                    session.plotter(into=kept)
                    screenshot_array(kept)
                else:
                    new = session.plotter()
                    screenshot_array(new)
                    new.close()
                times[how].append(time.perf_counter() - start)
        kept.close()
    for how, values in times.items():
        out[f"window_rebuild_{how}_s"] = round(statistics.median(values), 4)
    out["window_rebuild_new_over_reused"] = round(
        out["window_rebuild_new_plotter_s"] / out["window_rebuild_reused_s"], 2
    )
    return out


def _window_frame_s(path: Path, scene: str) -> dict[str, float]:
    """The server's own frame times for the same scene (render + read back, offscreen): the
    full-quality frame and the coarse one drawn while a slider or the camera moves."""
    from volviz.render.volume import screenshot_array
    from volviz.serve.frames import sampling
    from volviz.serve.session import Choices, Session
    from volviz.store import Store

    out = {}
    with Store(path) as store:
        session = Session(store, Choices(layer=store.layers[0], scene=scene), window_size=VIEW)
        plotter = session.plotter()
        for name, moving in (("window_frame_s", False), ("window_coarse_frame_s", True)):
            sampling(plotter, moving)
            screenshot_array(plotter)
            times = []
            for i in range(5):
                session.replace(threshold=0.1 * (i % 2))
                session.apply_opacity(plotter)
                start = time.perf_counter()
                screenshot_array(plotter)
                times.append(time.perf_counter() - start)
            out[name] = round(min(times), 4)
        plotter.close()
    return out


def run() -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        return {"skipped": "no system chromium"}
    out: dict[str, Any] = {"view": f"{VIEW[0]}x{VIEW[1]}", "renderer": "Mesa EGL (CPU)"}
    out["load_average_1min_start"] = round(os.getloadavg()[0], 1)
    with tempfile.TemporaryDirectory(dir=".") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        cases = {
            "volume_96x55x55": (
                _store(Path(tmp) / "v.h5", 2, (96, 55, 55), ("conv", "conv_b")),
                "volume",
            ),
            "effnet_stack_49": (_effnet_store(Path(tmp) / "e.h5"), "stack"),
        }
        for name, (path, scene) in cases.items():
            proc, url = _serve(path)
            try:
                page, frames = _open(browser, url)
                if scene == "stack":
                    page.locator(".v-input", has_text="scene").first.click()
                    page.locator(".v-overlay .v-list-item", has_text="stack").first.click()
                    frames.after(time.perf_counter(), deadline=120)
                    frames.settled(time.perf_counter() - 120)
                first, full = _latency(page, frames)
                out[f"{name}_slider_to_frame_s"] = first
                out[f"{name}_slider_to_full_frame_s"] = full
                out[f"{name}_rotate_fps"] = _rotation_fps(page, frames)
                if scene == "volume":
                    first, full = _layer_switch(page, frames, ["conv", "conv_b"])
                    out[f"{name}_layer_switch_to_frame_s"] = first
                    out[f"{name}_layer_switch_to_full_frame_s"] = full
                page.close()
            finally:
                _stop(proc)
            for key, value in {
                **_window_frame_s(path, scene),
                **_window_rebuild_s(path, scene),
            }.items():
                out[f"{name}_{key}"] = value
        for n in (20, 2000):
            path = _store(Path(tmp) / f"m{n}.h5", n, (32, 28, 28))
            proc, url = _serve(path)
            try:
                page, frames = _open(browser, url)
                out[f"rss_mb_{n}_images"] = round(_rss_mb(proc.pid), 1)
                page.close()
            finally:
                _stop(proc)
        browser.close()
    out["rss_2000_over_20"] = round(out["rss_mb_2000_images"] / out["rss_mb_20_images"], 3)
    out["load_average_1min"] = round(os.getloadavg()[0], 1)
    return out


if __name__ == "__main__":
    print(json.dumps(run()))
