"""The scene model: what a picture shows, with no renderer in it.

Every scene (volume, threshold, isosurface, slices, channel, stack, compare, a training run's
frame, the viewer's window) is first described as a :class:`Scene`: one :class:`View` per
panel, holding display volumes (values 0..1 in the scene's channel order, with their colour
map, opacity curve and colour bar), surface meshes, text labels, the title, the footnote,
the index axes and the camera. Two backends draw the same description:

- :mod:`volviz.render.draw` (PyVista/VTK): PNG, GIF/MP4, the window, the served page;
- :mod:`volviz.render.html` (plotly): the static offline HTML page.

Meshes are geometry (``pv.PolyData``/``pv.ImageData`` from VTK's filters), not actors: no
Plotter is built to describe a scene.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Point = tuple[float, float, float]
DEFAULT_CMAP = "inferno"


@dataclass(frozen=True)
class Style:
    """How every scene looks: display scaling, colours, opacity, box shape, window."""

    normalization: str = "percentile"
    cmap: str = DEFAULT_CMAP
    preset: str = "ramp"
    opacity_scale: float = 1.0
    spacing: tuple[float, float, float] | None = None
    window_size: tuple[int, int] = (800, 600)
    off_screen: bool = True
    quantity: str = "activation"  # what the values are: the colour bar's title


@dataclass(frozen=True)
class Bar:
    """A colour bar: ``limits`` is the data range of the colours' 0..1 (labels in data
    units); without it the bar is labelled by its mesh's own scalar range."""

    title: str
    limits: tuple[float, float] | None = None
    below: bool = False  # horizontal, under the panel (narrow side-by-side panels)


def display_bar(quantity: str, limits: tuple[float, float] | None, *, below: bool = False) -> Bar:
    """The bar of display values 0..1: data units where ``limits`` is known, else it says so."""
    return Bar(quantity if limits is not None else f"{quantity} (display 0..1)", limits, below)


@dataclass(frozen=True)
class VolumeLayer:
    """A ray-cast volume of display values.

    Attributes
    ----------
    display : ndarray of shape (D, H, W)
        Display values 0..1, channels in the scene's order (gap slices included).
    spacing, origin : (dz, dy, dx), (z0, y0, x0)
        Voxel size and the world position of voxel (0, 0, 0)'s centre.
    opacity : ndarray of shape (n,)
        Opacity of display values ``linspace(0, 1, n)``.
    signed : bool
        Display 0.5 is a data 0 (symmetric scaling): both ends matter.
    """

    display: np.ndarray
    spacing: tuple[float, float, float]
    cmap: str
    opacity: np.ndarray
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    signed: bool = False
    bar: Bar | None = None


@dataclass(frozen=True)
class MeshLayer:
    """A surface (voxel boxes, isosurface, planes, outline, band): a solid ``color`` or
    ``scalars`` coloured by ``cmap`` over ``clim``."""

    mesh: Any  # pv.PolyData or pv.ImageData
    color: str | None = None
    scalars: str | None = None
    cmap: str | None = None
    clim: tuple[float, float] = (0.0, 1.0)
    bar: Bar | None = None
    lighting: bool = True
    smooth_shading: bool = False
    line_width: float | None = None


@dataclass(frozen=True)
class Axes:
    """The index axes of a box: ``counts`` = (columns, rows, channels) over ``bounds``
    (xmin, xmax, ymin, ymax, zmin, zmax) with voxel ``spacing`` (dx, dy, dz)."""

    bounds: tuple[float, ...]
    spacing: tuple[float, float, float]
    counts: tuple[int, int, int]
    show_z: bool = True


@dataclass
class View:
    """One panel of a scene (see module docstring); ``camera`` is ``3d`` or ``front``."""

    title: str = ""
    note: str = ""
    volumes: list[VolumeLayer] = field(default_factory=list)
    meshes: list[MeshLayer] = field(default_factory=list)
    labels: list[tuple[Point, str]] = field(default_factory=list)
    axes: Axes | None = None
    axis_titles: tuple[str, str, str] = ("column", "row", "channel")
    camera: str = "3d"
    zoom: float = 1.0  # beyond the camera's own fit


@dataclass
class Scene:
    """Panels side by side (linked cameras when more than one); ``caption``: a second line
    under the first panel's title."""

    views: list[View]
    caption: str = ""


def axes_of(grid: Any, shape: Sequence[int], *, show_z: bool = True) -> Axes:
    """The index axes of (C, H, W) ``shape`` drawn as ``grid`` (points or cells)."""
    c, h, w = shape
    spacing = tuple(float(s) for s in grid.spacing)
    return Axes(tuple(float(b) for b in grid.bounds), spacing, (w, h, c), show_z)  # type: ignore[arg-type]


def index_ticks(axes: Axes) -> list[tuple[list[float], list[str]]]:
    """World positions and index labels of up to 5 ticks per axis (x, y, z)."""
    out = []
    for axis, n in enumerate(axes.counts):
        lo, hi = axes.bounds[2 * axis], axes.bounds[2 * axis + 1]
        step = axes.spacing[axis]
        first = lo + (hi - lo - (n - 1) * step) / 2  # centre of voxel 0, points or cells
        idx = np.unique(np.linspace(0, n - 1, min(n, 5)).round().astype(int))
        out.append(([float(first + i * step) for i in idx], [str(i) for i in idx]))
    return out


def camera_direction(view: str) -> tuple[np.ndarray, Point, float]:
    """Viewing direction (unit), up vector and zoom of a ``3d`` or ``front`` camera.

    Feature maps read like images (row 0 at the top, column 0 left). ``front`` looks along
    +z at channel 0 (the maps as pictures). ``3d`` puts channel 0 on top of the stack (z down
    the screen) and looks at it from above and to the right.
    """
    if view == "front":
        return np.array([0.0, 0.0, 1.0]), (0.0, -1.0, 0.0), 0.9
    direction = np.array([-0.5, -0.85, 0.55])
    return direction / np.linalg.norm(direction), (0.0, 0.0, -1.0), 0.85
