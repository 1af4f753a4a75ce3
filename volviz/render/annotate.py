"""What a scene shows besides its volumes: axes in index units, titles, scalar bars, camera.

Each subplot's texts and tick positions are also recorded in a :class:`Panel`, so the HTML
export can redraw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyvista as pv

BACKGROUND = "#15171c"
__all__ = ["BACKGROUND", "Panel", "add_titles", "label_axes", "map_camera", "panel"]


@dataclass
class Panel:
    """What a subplot shows besides its actors, for exporters that redraw it (HTML)."""

    title: str = ""
    axis_titles: tuple[str, str, str] = ("column", "row", "channel")
    labels: list[tuple[tuple[float, float, float], str]] = field(default_factory=list)
    note: str = ""
    ticks: list[tuple[list[float], list[str]]] | None = None


def panel(plotter: pv.Plotter, index: int = 0) -> Panel:
    """The ``Panel`` record of subplot ``index`` (created on first use)."""
    panels = plotter.__dict__.setdefault("volviz_panels", {})
    return panels.setdefault(index, Panel())  # type: ignore[no-any-return]


def bar_labels(limits: tuple[float, float]) -> dict[float, str]:
    """Scalar-bar labels in data units: display 0, 0.5 and 1 are the data values ``limits`` map."""
    lo, hi = limits
    return {0.0: f"{lo:.3g}", 0.5: f"{(lo + hi) / 2:.3g}", 1.0: f"{hi:.3g}"}


def scalar_bar_args(
    title: str, limits: tuple[float, float] | None = None, *, below: bool = False
) -> dict[str, Any]:
    """A vertical bar right of the panel (``below``: a horizontal one under the volume, for
    narrow side-by-side panels); with ``limits`` (the data range shown as 0..1) its labels are
    data values (pass ``annotations=bar_labels(limits)`` to the add call too)."""
    if limits is not None:
        return {**scalar_bar_args(title, below=below), "n_labels": 0}
    if below:
        return {
            **scalar_bar_args(title),
            "vertical": False,
            "position_x": 0.2,
            "position_y": 0.12,
            "width": 0.6,
            "height": 0.09,
        }
    return {
        "title": title,
        "color": "white",
        "vertical": True,
        "position_x": 0.88,
        "position_y": 0.25,
        "width": 0.06,
        "height": 0.5,
        "title_font_size": 12,
        "label_font_size": 10,
        "n_labels": 3,
        "fmt": "%.2f",
    }


def bar_kwargs(title: str, limits: tuple[float, float] | None) -> dict[str, Any]:
    """``scalar_bar_args`` and ``annotations`` for an add call whose colours span display 0..1.

    ``limits`` is the data range shown as 0..1 (labels in data units); ``None`` (per-channel
    scaling) keeps 0..1 labels and says so in the title.
    """
    if limits is None:
        return {"scalar_bar_args": scalar_bar_args(f"{title} (display 0..1)")}
    return {"scalar_bar_args": scalar_bar_args(title, limits), "annotations": bar_labels(limits)}


def label_axes(
    plotter: pv.Plotter,
    grid: pv.ImageData,
    shape: Sequence[int],
    *,
    channel_title: str = "channel",
    show_z: bool = True,
) -> None:
    """Bounds box with index ranges: column on x, row on y, ``channel_title`` on z."""
    c, h, w = shape
    record = panel(plotter, _subplot_index(plotter))
    record.axis_titles = ("column", "row", channel_title if show_z else "")
    record.ticks = _index_ticks(grid, (w, h, c))
    plotter.show_bounds(
        bounds=grid.bounds,
        xtitle="column",
        ytitle="row",
        ztitle=channel_title if show_z else " ",
        show_zaxis=show_z,
        axes_ranges=[0, w - 1, 0, h - 1, 0, c - 1],
        color="white",
        font_size=10,
        n_xlabels=3,
        n_ylabels=3,
        n_zlabels=4,
        fmt="%.0f",
    )


def _index_ticks(grid: pv.ImageData, counts: Sequence[int]) -> list[tuple[list[float], list[str]]]:
    """World positions and index labels of up to 5 ticks per axis (x, y, z)."""
    out = []
    for axis, n in enumerate(counts):
        lo, hi = grid.bounds[2 * axis], grid.bounds[2 * axis + 1]
        step = grid.spacing[axis]
        first = lo + (hi - lo - (n - 1) * step) / 2  # centre of voxel 0, points or cells
        idx = np.unique(np.linspace(0, n - 1, min(n, 5)).round().astype(int))
        out.append(([float(first + i * step) for i in idx], [str(i) for i in idx]))
    return out


def _subplot_index(plotter: pv.Plotter) -> int:
    return int(plotter.renderers.active_index)


def add_titles(plotter: pv.Plotter, title: str, note: str = "") -> None:
    """Title at the top left and a smaller note (the display scaling) at the bottom left."""
    record = panel(plotter, _subplot_index(plotter))
    record.title, record.note = title, note
    if title:
        plotter.add_text(title, font_size=10, color="white")
    if note:
        plotter.add_text(note, position="lower_left", font_size=8, color="white")


def map_camera(plotter: pv.Plotter, view: str = "3d") -> None:
    """Point the camera so feature maps read like images (row 0 at the top, column 0 left).

    ``front`` looks along +z at channel 0 (the maps as pictures). ``3d`` puts channel 0 on
    top of the stack (z down the screen) and looks at it from above and to the right.
    """
    bounds = np.asarray(plotter.renderer.ComputeVisiblePropBounds()).reshape(3, 2)
    centre = bounds.mean(axis=1)
    if view == "front":
        direction, up = np.array([0.0, 0.0, 1.0]), (0.0, -1.0, 0.0)
    else:
        direction, up = np.array([-0.5, -0.85, 0.55]), (0.0, 0.0, -1.0)
    plotter.camera.focal_point = tuple(centre)
    plotter.camera.position = tuple(centre - direction / np.linalg.norm(direction))
    plotter.camera.up = up
    plotter.reset_camera()
    plotter.camera.zoom(0.9 if view == "front" else 0.85)  # room for titles and the bar
