"""``volviz serve`` in a real browser: Playwright drives the system chromium (SwiftShader WebGL)
against a running server on a hand-built store. One server per module."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.serve.store import BRIGHT

pytestmark = [pytest.mark.browser, pytest.mark.slow]
playwright = pytest.importorskip("playwright.sync_api")
ARGS = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--no-sandbox"]


def start_server(*args: object, deadline: float = 90.0) -> tuple[subprocess.Popen, str]:
    """``volviz serve ARGS --port 0`` in a subprocess; returns it and the URL it prints."""
    env = {**os.environ, "VTK_DEFAULT_OPENGL_WINDOW": "vtkEGLRenderWindow"}
    code = "import sys; from volviz.cli.main import main; main(sys.argv[1:])"
    cmd = [sys.executable, "-c", code, "serve", *map(str, args), "--port", "0"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert proc.stdout is not None
    end = time.monotonic() + deadline
    seen = []
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if match := re.search(r"open (http://\S+)", line):
            drain(proc, seen)
            return proc, match.group(1)
    stop(proc)
    pytest.fail(f"volviz serve printed no URL: {''.join(seen)}")


def drain(proc: subprocess.Popen, lines: list[str]) -> None:
    """Keep reading the server's output (a full pipe would block it); kept for failures."""
    import threading

    assert proc.stdout is not None
    thread = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    thread.start()
    proc.drain = thread  # type: ignore[attr-defined]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if getattr(proc, "drain", None) is not None:
        proc.drain.join(timeout=10)  # type: ignore[attr-defined]
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture(scope="module")
def served(serve_store: Path) -> Iterator[str]:
    proc, url = start_server(serve_store, "--normalize", "minmax")
    yield url
    stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing on CI: scripts/dev.sh installs it")
        pytest.skip("Debian chromium is not installed")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser, served):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 800})
    page.console_errors = []
    page.outside = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else 0)
    base = served.split("?")[0].rstrip("/")
    ok = ("data:", "blob:" + base, base)
    page.on("request", lambda r: None if r.url.startswith(ok) else page.outside.append(r.url))
    page.goto(served)
    wait_for(lambda: picture(page).std() > 1.0, "a non-blank picture")
    return page


def wait_for(check, what: str, deadline: float = 30.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def picture(page) -> np.ndarray:  # type: ignore[no-untyped-def]
    from PIL import Image

    canvas = page.locator("canvas").first
    return np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("L"), float)


def choose(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(".v-input", has_text=label).first.click()
    page.locator(".v-overlay .v-list-item", has_text=option).first.click()


def changed(page, before: np.ndarray) -> bool:  # type: ignore[no-untyped-def]
    now = picture(page)
    return now.shape != before.shape or int((np.abs(now - before) > 8).sum()) > 20


def test_page_loads_clean_and_draws(page) -> None:  # type: ignore[no-untyped-def]
    status = page.locator("#status").inner_text()
    assert status.startswith("conv1, image 0 (a), 5x7x9, original order")
    assert picture(page).std() > 1.0
    assert page.console_errors == []
    assert page.outside == []


def test_threshold_slider_changes_the_picture(page) -> None:  # type: ignore[no-untyped-def]
    before = picture(page)
    slider = page.locator(".v-input", has_text="threshold").locator(".v-slider-track").first
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    wait_for(lambda: changed(page, before), "the picture to change with the threshold")
    page.mouse.click(box["x"] + 1, box["y"] + box["height"] / 2)


def test_click_on_known_voxel_reports_channel_row_column_value(page) -> None:  # type: ignore[no-untyped-def]
    # The stored ordering 'perm' puts original channel 4 at the centre slice (2 of 5):
    # the bright voxel sits at the centre of the box, under the centre of the view.
    before = picture(page)
    choose(page, "ordering", "perm")
    wait_for(lambda: "ordered by perm" in page.locator("#status").inner_text(), "ordering")
    # The reordered scene has reached the page (no fixed sleep): the click hits that scene.
    wait_for(lambda: changed(page, before), "the reordered picture")
    canvas = page.locator("canvas").first.bounding_box()
    page.mouse.click(canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2)
    text = wait_for(lambda: "value" in (t := page.locator("#pick").inner_text()) and t, "pick")
    c, r, col = BRIGHT
    assert f"conv1, image a: channel {c} (slice 2), row {r}, column {col}, value 7.5" in text
    assert page.locator("#pick-map").count() == 1
    # /analysis is stored: the channel's top images, best first (image 0 holds the peak)
    tops = page.locator(".top-image").all_inner_texts()
    assert tops and tops[0].startswith(f"a: value 7.5 at row {r}, column {col}")


def test_other_layer_changes_title_and_picture(page) -> None:  # type: ignore[no-untyped-def]
    before = picture(page)
    choose(page, "layer", "conv2")
    wait_for(lambda: page.locator("#status").inner_text().startswith("conv2"), "title")
    wait_for(lambda: changed(page, before), "the picture of conv2")
    assert page.console_errors == []


def test_non_local_bind_refuses_requests_without_the_token(serve_store: Path) -> None:
    proc, url = start_server(serve_store, "--host", "0.0.0.0")
    try:
        assert "?token=" in url
        port = int(re.search(r":(\d+)/", url).group(1))  # type: ignore[union-attr]
        bare = f"http://127.0.0.1:{port}/"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bare, timeout=10)
        assert refused.value.code == 403
        refused.value.close()
        with pytest.raises(urllib.error.HTTPError) as refused_ws:
            urllib.request.urlopen(bare + "ws", timeout=10)
        assert refused_ws.value.code == 403
        refused_ws.value.close()
        token = url.split("token=")[1]
        with urllib.request.urlopen(f"{bare}?token={token}", timeout=10) as ok:
            assert ok.status == 200
            assert "volviz_token" in ok.headers.get("Set-Cookie", "")
    finally:
        stop(proc)


WRITER = """
import sys, time, torch
from torch import nn
import volviz
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
x = torch.rand(2, 1, 6, 8, generator=torch.Generator().manual_seed(0))
with volviz.track(model, sys.argv[1], probe=x, layers=["0"]) as tracker:
    for t in range(int(sys.argv[2])):
        model(x).sum().backward()
        tracker.record(10 * t, epoch=t, loss=1.0)
        model.zero_grad()
        print(t, flush=True)
        sys.stdin.readline()  # the test says when to write the next record
"""


def test_follow_shows_records_as_they_arrive(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = tmp_path / "run.h5"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(run), "3"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdin is not None and writer.stdout is not None
    try:
        assert writer.stdout.readline().strip() == "0"  # the first record is written
        proc, url = start_server(run, "--follow", "--interval", "0.2")
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            page.goto(url)
            status = page.locator("#status")
            wait_for(lambda: "record 1/1" in status.inner_text(), "the first record", 60)
            writer.stdin.write("\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "1"
            wait_for(lambda: "record 2/2" in status.inner_text(), "the new record", 60)
            page.close()
        finally:
            stop(proc)
    finally:
        writer.stdin.write("\n\n\n")
        writer.stdin.close()
        writer.wait(timeout=60)
        writer.stdout.close()


class Images:
    """The pictures arriving on a page's websockets (JPEG frames), decoded to grey."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.frames: list[np.ndarray] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._on))

    def _on(self, payload: object) -> None:
        from PIL import Image, UnidentifiedImageError

        start = payload.find(b"\xff\xd8\xff") if isinstance(payload, bytes) else -1
        if start >= 0:  # a wslink message (msgpack) with a JPEG in it
            try:
                grey = Image.open(io.BytesIO(payload[start:])).convert("L")  # type: ignore[index]
            except UnidentifiedImageError:
                return
            self.frames.append(np.asarray(grey, float))


def settled_picture(page, quiet: float = 2.0) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The canvas once it has not changed for ``quiet`` seconds."""
    last, since = picture(page), time.monotonic()
    end = since + 60
    while time.monotonic() < end and time.monotonic() - since < quiet:
        time.sleep(0.2)
        now = picture(page)
        if changed(page, last):
            last, since = now, time.monotonic()
    return last


def differing(a: np.ndarray, b: np.ndarray) -> int:
    """Pixels of two grey pictures more than 8 levels apart."""
    return int((np.abs(a - b) > 8).sum())


def test_layer_switch_right_after_opening(browser, serve_store: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A layer chosen before the page's first picture arrived: the view ends on the new
    layer's picture (as a page that waited), never a blank frame, no console error."""
    from PIL import Image

    viewport = {"width": 1400, "height": 800}
    proc, url = start_server(serve_store, "--normalize", "minmax")
    ref_proc, ref_url = start_server(serve_store, "--normalize", "minmax")
    try:
        page = browser.new_page(viewport=viewport)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else 0)
        images = Images(page)
        page.goto(url)
        page.wait_for_selector("#status")
        choose(page, "layer", "conv2")  # at once: the first frame has not arrived yet
        wait_for(lambda: page.locator("#status").inner_text().startswith("conv2"), "title")
        got = settled_picture(page)
        # the same server's pictures of conv1 and conv2 after waiting for each
        ref = browser.new_page(viewport=viewport)
        ref.goto(ref_url)
        wait_for(lambda: picture(ref).std() > 1.0, "conv1's picture")
        conv1 = settled_picture(ref)
        choose(ref, "layer", "conv2")
        wait_for(lambda: changed(ref, conv1), "conv2's picture")
        conv2 = settled_picture(ref)
        for name, image in (("switched", got), ("conv1", conv1), ("conv2", conv2)):
            Image.fromarray(image.astype(np.uint8)).save(tmp_path / f"{name}.png")
        assert differing(got, conv2) < 50  # JPEG noise
        assert differing(got, conv1) > 2000
        # the closed window's frames were flat (std 0) at full size; every real one has text
        # and axes (a few tiny frames while the page lays out are left out)
        sized = [f for f in images.frames if min(f.shape) >= 100]
        assert sized and min(f.std() for f in sized) > 5.0
        assert errors == []
        page.close()
        ref.close()
    finally:
        stop(proc)
        stop(ref_proc)
