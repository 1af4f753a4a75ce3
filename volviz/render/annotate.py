"""How the PyVista backend draws what a scene shows besides its volumes: axes in index units,
titles, scalar bars, camera (see :mod:`volviz.render.model` for the description itself)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvista as pv

from volviz.render.model import Axes, Bar, camera_direction

BACKGROUND = "#15171c"
__all__ = ["BACKGROUND", "add_titles", "bar_args", "label_axes", "map_camera"]


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


def bar_args(bar: Bar | None) -> dict[str, Any]:
    """``show_scalar_bar``, ``scalar_bar_args`` and ``annotations`` of an add call for ``bar``
    (labels in data units where ``bar.limits`` is known)."""
    if bar is None:
        return {"show_scalar_bar": False}
    out: dict[str, Any] = {
        "show_scalar_bar": True,
        "scalar_bar_args": scalar_bar_args(bar.title, bar.limits, below=bar.below),
    }
    if bar.limits is not None:
        out["annotations"] = bar_labels(bar.limits)
    return out


def label_axes(plotter: pv.Plotter, axes: Axes, channel_title: str = "channel") -> None:
    """Bounds box with index ranges: column on x, row on y, ``channel_title`` on z."""
    w, h, c = axes.counts
    plotter.show_bounds(
        bounds=axes.bounds,
        xtitle="column",
        ytitle="row",
        ztitle=channel_title if axes.show_z else " ",
        show_zaxis=axes.show_z,
        axes_ranges=[0, w - 1, 0, h - 1, 0, c - 1],
        color="white",
        font_size=10,
        n_xlabels=3,
        n_ylabels=3,
        n_zlabels=4,
        fmt="%.0f",
    )


def add_titles(plotter: pv.Plotter, title: str, note: str = "", *, names: bool = False) -> None:
    """Title at the top left and a smaller note (the display scaling) at the bottom left
    (``names``: replacing the texts of an earlier call)."""
    if title or names:
        plotter.add_text(title, font_size=10, color="white", name="title" if names else None)
    if note or names:
        plotter.add_text(
            note, position="lower_left", font_size=8, color="white", name="note" if names else None
        )


def map_camera(plotter: pv.Plotter, view: str = "3d", zoom: float = 1.0) -> None:
    """Point the camera of ``view`` (see :func:`~volviz.render.model.camera_direction`) at
    the visible props; ``zoom`` beyond the fit."""
    bounds = np.asarray(plotter.renderer.ComputeVisiblePropBounds()).reshape(3, 2)
    centre = bounds.mean(axis=1)
    direction, up, fit = camera_direction(view)
    plotter.camera.focal_point = tuple(centre)
    plotter.camera.position = tuple(centre - direction)
    plotter.camera.up = up
    plotter.reset_camera()
    plotter.camera.zoom(fit)  # room for titles and the bar
    if zoom != 1.0:
        plotter.camera.zoom(zoom)
