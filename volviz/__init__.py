"""volviz: see what a convolutional network computes, as 3D volumes."""

from __future__ import annotations

__version__ = "0.1.0"
