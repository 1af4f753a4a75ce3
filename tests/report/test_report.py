from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from volviz.capture.extract import capture
from volviz.cli.main import cli
from volviz.report.html import default_layers

CHROMIUM = shutil.which("chromium")
# Chromium's own background traffic (updates, time, spelling); anything else came from the page.
BROWSER_HOSTS = re.compile(r"google\.com|googleapis\.com|gvt1\.com|gstatic\.com")


def open_in_chromium(page, tmp_path):
    """Load ``page`` headless; return (console lines, URLs the page requested, screenshot)."""
    netlog, shot = tmp_path / "net.json", tmp_path / "shot.png"
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            f"--log-net-log={netlog}",
            "--window-size=1200,2000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    console = [ln for ln in done.stderr.splitlines() if ":CONSOLE" in ln]
    urls = set(re.findall(r'"url":"(https?://[^"]*)"', netlog.read_text()))
    return console, {u for u in urls if not BROWSER_HOSTS.search(u)}, shot


@pytest.fixture
def small_store(tiny, tmp_path):
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(4, 1, 10, 14)), dtype=torch.float32)
    return capture(tiny, x, tmp_path / "s.h5", layers=["conv1", "conv2"])


def test_default_layers_spread_over_the_network():
    names = [f"l{i}" for i in range(49)]
    assert default_layers(names) == ["l0", "l10", "l19", "l29", "l38", "l48"]
    assert default_layers(names[:3]) == names[:3]


@pytest.mark.slow
@pytest.mark.browser
def test_report_opens_offline_without_errors(small_store, tmp_path, needs_gl, chromium):
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["-q", "report", str(small_store), "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out / "index.html"
    text = page.read_text()
    assert "conv1" in text and "conv2" in text and "sparsity" in text
    assert not re.search(r"(src|href)=['\"](https?:)?//", text)
    files = re.findall(r"(?:src|href)=[\"']([^\"']+)", text)
    assert len(files) == 2 * 8 + 1  # 6 pictures and 2 voxel files per layer, the 3D page
    for src in files:
        assert (out / src).is_file(), src
    console, urls, shot = open_in_chromium(page, tmp_path)
    assert console == [] and urls == set()
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 10
    again = CliRunner().invoke(cli, ["report", str(small_store), "-o", str(out)])
    assert again.exit_code == 1 and "exists; pass --force" in again.output


def test_report_failure_leaves_nothing(small_store, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli, ["report", str(small_store), "-o", str(out), "--layer", "nope", "--no-3d"]
    )
    assert result.exit_code == 1 and "--layer 'nope' is not in s.h5" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]
