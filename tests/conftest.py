"""Shared fixtures: one torch thread, offscreen rendering, tiny hand-set models."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

torch.set_num_threads(1)
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


class TinyCNN(nn.Module):
    """conv (1 -> 2 channels, 2x2 kernel) -> in-place ReLU -> conv (2 -> 1, 1x1) -> mean.

    Weights are set by hand so every activation is known exactly.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, kernel_size=2, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(2, 1, kernel_size=1, bias=False)
        with torch.no_grad():
            self.conv1.weight.copy_(
                torch.tensor([[[[1.0, 0.0], [0.0, -1.0]]], [[[0.5, 0.5], [0.5, 0.5]]]])
            )
            self.conv1.bias.copy_(torch.tensor([0.0, -1.0]))
            self.conv2.weight.copy_(torch.tensor([[[[2.0]], [[-1.0]]]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.relu(self.conv1(x)))
        return y.flatten(1).mean(dim=1, keepdim=True).repeat(1, 3)


@pytest.fixture
def tiny() -> TinyCNN:
    return TinyCNN()


@pytest.fixture
def tiny_input() -> torch.Tensor:
    """Two 1x3x4 images with small integer pixels (non-square maps)."""
    a = torch.arange(12, dtype=torch.float32).reshape(1, 1, 3, 4)
    b = torch.tensor([[[[3.0, -1, 0, 2], [1, 4, -2, 0], [0, 1, 5, -3]]]])
    return torch.cat([a, b])


@pytest.fixture(scope="session")
def gl_ok() -> bool:
    """VTK segfaults instead of raising when no GL exists: probe in a subprocess."""
    code = (
        "import os; os.environ.setdefault('VTK_DEFAULT_OPENGL_WINDOW','vtkEGLRenderWindow');"
        "import pyvista as pv; p = pv.Plotter(off_screen=True, window_size=[32, 32]);"
        "p.add_mesh(pv.Sphere()); p.screenshot(); p.close()"
    )
    ok = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120).returncode
    if ok != 0 and os.environ.get("CI"):
        pytest.fail("offscreen OpenGL (Mesa EGL) is unavailable on this CI machine")
    return ok == 0


@pytest.fixture
def needs_gl(gl_ok: bool) -> None:
    if not gl_ok:
        pytest.skip("no offscreen OpenGL here (install Mesa's libegl1)")


@pytest.fixture(scope="session")
def effnet():  # type: ignore[no-untyped-def]
    from volviz.capture.models import load_model

    return load_model()


@pytest.fixture
def chromium() -> str:
    """Debian chromium for the offline-page checks; on CI its absence fails the run."""
    import shutil

    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing on CI: scripts/dev.sh installs it")
        pytest.skip("Debian chromium is not installed (bash scripts/dev.sh test installs it)")
    return path
