"""Volume rendering of one (C, H, W) array: channels on z, rows on y, columns on x.

``to_image_data`` is the one place in volviz that turns an array into ``pv.ImageData``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyvista as pv

from volviz.errors import VolvizError

NORMALIZATIONS = ("percentile", "minmax", "channel")
# Opacity over the normalized 0..1 range: the lowest third is transparent so the
# strongly active voxels stand out instead of a fog of everything.
DEFAULT_OPACITY = [0.0, 0.0, 0.02, 0.12, 0.35, 0.7]
DEFAULT_CMAP = "inferno"
BACKGROUND = "#15171c"


def to_image_data(
    volume: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0), name: str = "value"
) -> pv.ImageData:
    """Wrap a (C, H, W) array as ImageData with x = column, y = row, z = channel.

    Parameters
    ----------
    volume : ndarray of shape (C, H, W)
    spacing : (dz, dy, dx)
        Voxel size per axis in the array's own (C, H, W) order.
    """
    if volume.ndim != 3:
        msg = f"volume has shape {volume.shape}, expected (C, H, W)"
        raise VolvizError(msg)
    c, h, w = volume.shape
    grid = pv.ImageData(dimensions=(w, h, c), spacing=(spacing[2], spacing[1], spacing[0]))
    # C-order ravel makes x (column) fastest and z (channel) slowest, as VTK expects.
    grid.point_data[name] = np.ascontiguousarray(volume, dtype=np.float32).ravel()
    return grid


def normalize(volume: np.ndarray, method: str = "percentile") -> tuple[np.ndarray, str]:
    """Scale for display to 0..1; return the array and a description to record.

    ``percentile`` clips to the 1st..99.5th percentile, ``minmax`` uses the global range,
    ``channel`` scales each channel by its own range.
    """
    v = np.asarray(volume, dtype=np.float32)
    if method == "percentile":
        lo, hi = np.percentile(v, [1.0, 99.5])
        label = f"percentile clip 1..99.5 ({lo:.3g}..{hi:.3g})"
    elif method == "minmax":
        lo, hi = v.min(), v.max()
        label = f"global min-max ({lo:.3g}..{hi:.3g})"
    elif method == "channel":
        lo, hi = v.min(axis=(1, 2), keepdims=True), v.max(axis=(1, 2), keepdims=True)
        label = "per-channel min-max"
    else:
        msg = f"--normalize {method!r} is not one of {', '.join(NORMALIZATIONS)}"
        raise VolvizError(msg)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((v - lo) / span, 0.0, 1.0).astype(np.float32), label


def auto_spacing(shape: Sequence[int], max_ratio: float = 2.5) -> tuple[float, float, float]:
    """Stretch short axes so no side of the box is over ``max_ratio`` times shorter.

    A 1,280x7x7 or 32x112x112 volume would otherwise be a needle or a sheet.
    """
    longest = max(shape)
    return tuple(  # type: ignore[return-value]
        max(1.0, longest / max_ratio / n) for n in shape
    )


def volume_plotter(
    volume: np.ndarray,
    *,
    title: str = "",
    normalization: str = "percentile",
    cmap: str = DEFAULT_CMAP,
    opacity: Sequence[float] | str = tuple(DEFAULT_OPACITY),
    spacing: Sequence[float] | None = None,
    window_size: tuple[int, int] = (800, 600),
    off_screen: bool = True,
) -> pv.Plotter:
    """A Plotter showing ``volume`` (C, H, W) as a volume rendering with labelled axes."""
    shown, label = normalize(volume, normalization)
    spacing = tuple(spacing) if spacing is not None else auto_spacing(volume.shape)
    grid = to_image_data(shown, spacing, name="activation")
    plotter = pv.Plotter(off_screen=off_screen, window_size=list(window_size))
    plotter.set_background(BACKGROUND)
    actor = plotter.add_volume(
        grid,
        scalars="activation",
        cmap=cmap,
        opacity=list(opacity) if not isinstance(opacity, str) else opacity,
        clim=(0.0, 1.0),
        mapper="smart",
        scalar_bar_args={"title": "activation (display)", "color": "white", "vertical": True},
    )
    # Sample at half a voxel of the finest axis: fixed, so it does not depend on spacing.
    actor.mapper.SetAutoAdjustSampleDistances(False)
    actor.mapper.SetSampleDistance(0.5 * min(spacing))
    c, h, w = volume.shape
    plotter.show_bounds(
        xtitle="column",
        ytitle="row",
        ztitle="channel",
        axes_ranges=[0, w - 1, 0, h - 1, 0, c - 1],
        color="white",
        font_size=10,
    )
    if title:
        plotter.add_text(title, font_size=10, color="white")
    plotter.add_text(f"display: {label}", position="lower_left", font_size=8, color="white")
    plotter.camera_position = "iso"
    plotter.camera.elevation = -15
    plotter.reset_camera()
    return plotter


def save_screenshot(plotter: pv.Plotter, path: str | os.PathLike[str]) -> Path:
    """Render and write a PNG via a temporary name, then close the plotter."""
    target = Path(path)
    tmp = target.with_name(f".{target.stem}.tmp-{os.getpid()}.png")
    try:
        plotter.render()
        plotter.screenshot(str(tmp))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        plotter.close()
    return target
