"""`volviz view` in a real X window (Xvfb), driven by real key presses (xdotool).

The viewer's callbacks are unit-tested without a window (test_viewer.py); this checks the
window path end to end: it opens, draws a non-blank scene, and a key steps the layer.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import private_display
from volviz.capture.extract import capture

TOOLS = ("Xvfb", "xdotool", "xwd")


def _x_tools() -> bool:
    if all(shutil.which(t) for t in TOOLS):
        return True
    if os.environ.get("CI"):
        pytest.fail("Xvfb, xdotool and xwd are missing on CI: scripts/dev.sh installs them")
    pytest.skip("needs Debian xvfb, xdotool and x11-apps (bash scripts/dev.sh test installs them)")
    return False


def read_xwd(data: bytes) -> np.ndarray:
    """Decode an ``xwd -root`` dump (ZPixmap, 24 or 32 bits per pixel) to (H, W, 3) uint8."""
    fields = struct.unpack(">25I", data[:100])
    header_size, width, height, byte_order = fields[0], fields[4], fields[5], fields[7]
    bits_per_pixel, bytes_per_line, ncolors = fields[11], fields[12], fields[19]
    step = bits_per_pixel // 8
    assert step in (3, 4), bits_per_pixel
    start = header_size + 12 * ncolors
    rows = np.frombuffer(data[start : start + bytes_per_line * height], np.uint8)
    pixels = rows.reshape(height, bytes_per_line)[:, : width * step].reshape(height, width, step)
    if byte_order == 0:  # LSBFirst: blue, green, red (, pad)
        return pixels[..., 2::-1]
    return pixels[..., step - 3 :]  # MSBFirst: (pad,) red, green, blue


def screenshot(env: dict[str, str]) -> np.ndarray:
    dump = subprocess.run(["xwd", "-root", "-silent"], env=env, capture_output=True, check=True)
    return read_xwd(dump.stdout)


def wait_for(probe, what: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """Poll ``probe()`` until it returns something other than None; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def window_names(env: dict[str, str], pattern: str) -> list[str] | None:
    """Names of the visible windows whose name matches ``pattern`` (None: no such window)."""
    found = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", pattern],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    names = []
    for wid in found.stdout.split():
        got = subprocess.run(
            ["xdotool", "getwindowname", wid], env=env, capture_output=True, text=True
        )
        names.append(got.stdout.strip())
    return names or None


@pytest.fixture
def display():  # type: ignore[no-untyped-def]
    _x_tools()
    with private_display() as env:
        yield env


@pytest.mark.display
@pytest.mark.slow
def test_view_opens_draws_and_steps_layers_on_key_press(display, tmp_path, tiny):
    x = torch.tensor(np.random.default_rng(0).normal(size=(2, 1, 14, 18)), dtype=torch.float32)
    store = capture(tiny, x, tmp_path / "s.h5", layers=["conv1", "conv2"])
    volviz = Path(sys.executable).with_name("volviz")
    viewer = subprocess.Popen(
        [str(volviz), "view", str(store), "--layer", "conv1"],
        env=display,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        names = wait_for(lambda: window_names(display, "volviz view"), "the viewer window")
        assert names == [f"volviz view {store}: conv1 - image tensor[0]"]
        # A drawn scene, not an empty window: the first frame has arrived.
        before = wait_for(
            lambda: shot if (shot := screenshot(display)).std() > 10 else None,
            "a drawn first frame",
        )
        subprocess.run(["xdotool", "mousemove", "300", "300"], env=display, check=True)
        subprocess.run(["xdotool", "key", "Up"], env=display, check=True)  # next layer
        # The layer changed: the window names the new layer, and the picture is another one.
        names = wait_for(lambda: window_names(display, ": conv2 - "), "the title to show conv2")
        assert names == [f"volviz view {store}: conv2 - image tensor[0]"]
        after = wait_for(
            lambda: None if np.array_equal(shot := screenshot(display), before) else shot,
            "the conv2 frame",
        )
        assert after.std() > 10
        assert viewer.poll() is None  # still running: no crash
    finally:
        viewer.kill()
        output = viewer.communicate(timeout=30)[0].decode(errors="replace")
    assert "Traceback" not in output, output
