"""Animations (GIF or MP4): orbits of any scene (the camera circles the focal point once),
and training runs over their recorded steps (``TimeScene``)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyvista as pv

from exporters import atomic_file
from volviz.errors import VolvizError
from volviz.render.volume import screenshot_array

if TYPE_CHECKING:
    from volviz.render.timeline import TimeScene

ANIMATION_SUFFIXES = (".gif", ".mp4")


def orbit_frames(plotter: pv.Plotter, frames: int = 36) -> Iterator[np.ndarray]:
    """Yield ``frames`` images (H, W, 3) uint8, turning the camera 360/frames degrees each.

    Linked subplots share one camera, so every panel turns together.
    """
    if frames < 2:
        raise VolvizError("must be at least 2", param="frames", value=frames)
    step = 360.0 / frames
    for _ in range(frames):
        image = screenshot_array(plotter)
        # Even sides: H.264's 4:2:0 chroma needs them, and nothing gets resized.
        yield image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]
        for renderer in plotter.renderers:
            renderer.camera.Azimuth(step)
            renderer.ResetCameraClippingRange()


def write_orbit(
    plotter: pv.Plotter,
    path: str | os.PathLike[str],
    *,
    frames: int = 36,
    fps: int = 12,
) -> Path:
    """Write an orbit of ``plotter``'s scene to ``path`` (.gif or .mp4), then close it.

    Written under a temporary name and renamed when complete.
    """
    try:
        return write_frames(orbit_frames(plotter, frames), path, fps=fps)
    finally:
        plotter.close()


def write_time_animation(
    scene: TimeScene,
    path: str | os.PathLike[str],
    *,
    indices: Sequence[int] | None = None,
    fps: int = 4,
) -> Path:
    """One frame per recorded step of a ``TimeScene`` (.gif or .mp4), then close it.

    Parameters
    ----------
    indices : sequence of int, optional
        Record indices to show, in order (default: every record).
    """
    try:
        return write_frames(scene.frames(indices), path, fps=fps)
    finally:
        scene.close()


def write_frames(
    frames: Iterable[np.ndarray], path: str | os.PathLike[str], *, fps: int = 12
) -> Path:
    """Write images (H, W, 3) uint8 of even sides to ``path`` (.gif or .mp4).

    Written under a temporary name and renamed when complete.
    """
    import imageio.v2 as imageio

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in ANIMATION_SUFFIXES:
        msg = f"must end in {' or '.join(ANIMATION_SUFFIXES)}"
        raise VolvizError(msg, param="path", value=path)
    if not 1 <= fps <= 60:
        raise VolvizError("is not in 1..60", param="fps", value=fps)
    if suffix == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        msg = (
            f"{str(target)!r}: MP4 needs ffmpeg from the mp4 extra "
            "(pip install 'volviz[mp4]'); or write a .gif"
        )
        raise VolvizError(msg)
    with atomic_file(target) as tmp:
        if suffix == ".gif":
            writer = imageio.get_writer(tmp, mode="I", duration=1000.0 / fps, loop=0)
        else:
            writer = imageio.get_writer(
                tmp, fps=fps, codec="libx264", macro_block_size=2, ffmpeg_log_level="error"
            )
        with writer:
            for image in frames:
                writer.append_data(image)
    return target
