"""PyVista scenes of (C, H, W) volumes. Never imports torch.

Importing this package picks VTK's EGL window when there is no X display, which renders
offscreen on Mesa without trying (and warning about) X first.

triton and the first frame: triton's native library loaded after Mesa's llvmpipe has rendered
a frame segfaults (both carry LLVM), which would crash any later ``import torchvision`` in the
same process. :func:`guard_triton` settles it before the first frame (:func:`new_plotter`
calls it): with torch loaded, triton is imported now; without torch, a later torch import
is kept from loading triton (eager torch runs without it). A command that never loads torch
so never pays triton's 0.4-0.6 s import.
"""

from __future__ import annotations

import importlib.util
import os
import sys

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


def guard_triton() -> None:
    """Make a later ``import torch``/``torchvision`` safe after this process renders."""
    if "triton" in sys.modules:
        return
    if "torch" in sys.modules and importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401
    else:
        sys.modules["triton"] = None  # type: ignore[assignment]


if "torch" in sys.modules:
    guard_triton()
