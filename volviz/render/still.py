"""Still pictures of volumes from one offscreen GL context per process.

Creating a Plotter (an offscreen OpenGL context) costs about 0.5 s, more than rendering a
frame; a report draws a dozen stills. ``render_still`` keeps one Plotter per window size
and rebuilds the scene in it: the same scene as :func:`~volviz.render.volume.volume_plotter`
in a fresh Plotter, pixel for pixel (tested).
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv

from volviz.render.volume import Style, volume_plotter

_PLOTTERS: dict[tuple[int, int], pv.Plotter] = {}


def still_array(volume: np.ndarray, *, title: str = "", **style: Any) -> np.ndarray:
    """The volume rendering of ``volume`` as ndarray of shape (height, width, 3) uint8.

    Parameters
    ----------
    volume : ndarray of shape (C, H, W)
    title : str
    **style
        ``Style`` fields (``window_size=``, ``normalization=`` ...), as ``volume_plotter``.
    """
    size = tuple(style.get("window_size") or Style().window_size)
    plotter = _PLOTTERS.get(size)  # type: ignore[call-overload]
    if plotter is None:
        plotter = volume_plotter(volume, title=title, **style)
        _PLOTTERS[size] = plotter  # type: ignore[index]
    else:
        # Building calls render() many times (camera, axes, texts); a shown Plotter would
        # draw a full frame for each. draw() empties it first (render.draw.empty).
        plotter.suppress_rendering = True
        try:
            volume_plotter(volume, title=title, plotter=plotter, **style)
        finally:
            plotter.suppress_rendering = False
    plotter.render()
    return np.asarray(plotter.screenshot(return_img=True))


def render_still(
    volume: np.ndarray, path: str | os.PathLike[str], *, title: str = "", **style: Any
) -> Path:
    """Write the volume rendering of ``volume`` to the PNG ``path`` (temp name, then rename)."""
    from PIL import Image

    from exporters._atomic import atomic_file

    pixels = still_array(volume, title=title, **style)
    target = Path(path)
    with atomic_file(target) as tmp:
        Image.fromarray(pixels).save(tmp, format="png")
    return target


@atexit.register
def close_all() -> None:
    """Release the GL contexts (also at exit: VTK complains about contexts left open)."""
    while _PLOTTERS:
        _PLOTTERS.popitem()[1].close()
