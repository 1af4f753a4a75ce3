"""PyVista scenes of (C, H, W) volumes. Never imports torch.

Importing this package
- picks VTK's EGL window when there is no X display, which renders offscreen on Mesa
  without trying (and warning about) X first;
- loads triton's native library first when it is installed: loaded after Mesa's llvmpipe
  has rendered a frame, it segfaults (both carry LLVM), which would crash any later
  ``import torchvision`` in the same process.
"""

from __future__ import annotations

import importlib.util
import os

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

if importlib.util.find_spec("triton") is not None:
    import triton  # noqa: F401
