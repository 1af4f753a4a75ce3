"""PyVista scenes of (C, H, W) volumes. Never imports torch.

Importing this package picks VTK's EGL window when there is no X display, which renders
offscreen on Mesa without trying (and warning about) X first.
"""

from __future__ import annotations

import os

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
