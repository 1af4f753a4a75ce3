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


@pytest.fixture
def display(tmp_path):
    _x_tools()
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    number = os.read(read, 16).decode().strip()
    os.close(read)
    env = {k: v for k, v in os.environ.items() if k != "VTK_DEFAULT_OPENGL_WINDOW"}
    env["DISPLAY"] = f":{number}"
    try:
        yield env
    finally:
        server.terminate()
        server.wait(timeout=30)


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
        found = subprocess.run(
            ["xdotool", "search", "--sync", "--onlyvisible", "--name", "volviz"],
            env=display,
            capture_output=True,
            timeout=120,
        )
        assert found.returncode == 0, viewer.poll()
        time.sleep(3)  # first frame
        before = screenshot(display)
        assert before.std() > 10  # a drawn scene, not an empty window
        subprocess.run(["xdotool", "mousemove", "300", "300"], env=display, check=True)
        subprocess.run(["xdotool", "key", "Up"], env=display, check=True)  # next layer
        deadline = time.time() + 30
        after = before
        while time.time() < deadline and np.array_equal(after, before):
            time.sleep(0.5)
            after = screenshot(display)
        assert not np.array_equal(after, before)
        assert viewer.poll() is None  # still running: no crash
    finally:
        viewer.kill()
        output = viewer.communicate(timeout=30)[0].decode(errors="replace")
    assert "Traceback" not in output, output
