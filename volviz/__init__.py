"""volviz: see what a convolutional network computes, as 3D volumes."""

from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # `volviz.track` without importing torch on `import volviz` (the CLI starts faster).
    if name == "track":
        from volviz.capture.track import track

        return track
    if name == "show":
        from volviz.serve.notebook import show

        return show
    msg = f"module 'volviz' has no attribute {name!r}"
    raise AttributeError(msg)
