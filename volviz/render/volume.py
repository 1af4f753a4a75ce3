"""Volume rendering of one (C, H, W) array: channels on z, rows on y, columns on x.

``to_image_data`` is the one place in volviz that turns an array into ``pv.ImageData``, with
the axis rule of :func:`exporters.vtk_geometry` (its one owner, shared with the exports).
The other scene modules (:mod:`~volviz.render.scenes`, :mod:`~volviz.render.stack`,
:mod:`~volviz.render.compare`) build on the helpers here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv

from exporters import atomic_file
from exporters.frame import volume_from_values, vtk_geometry, vtk_values
from volviz.errors import VolvizError
from volviz.render import guard_triton
from volviz.render.annotate import BACKGROUND, bar_args
from volviz.render.model import (
    Bar,
    MeshLayer,
    Style,
    View,
    VolumeLayer,
    axes_of,
    display_bar,
)
from volviz.render.ordered import Arranged, ChannelOrder, arrange, band_meshes
from volviz.render.transfer import opacity_curve
from volviz.store.views import (  # display scaling and box shape: numpy, shared with exports
    auto_spacing,
    display_range,
    normalize,
)

# Samples along the box diagonal: still frames never take more, interactive frames about this.
MAX_STILL_SAMPLES = 1000
INTERACTIVE_SAMPLES = 200


@dataclass(frozen=True)
class Sampling:
    """Ray-casting step along rays (world units) and per image pixel (1 = every pixel)."""

    sample_distance: float
    image_sample_distance: float = 1.0


def to_image_data(
    volume: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    name: str = "value",
    *,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    cells: bool = False,
    extra: dict[str, np.ndarray] | None = None,
) -> pv.ImageData:
    """Wrap a (C, H, W) array as ImageData with x = column, y = row, z = channel.

    Parameters
    ----------
    volume : ndarray of shape (C, H, W)
    spacing : (dz, dy, dx)
        Voxel size per axis in the array's own (C, H, W) order.
    origin : (z0, y0, x0)
        World position of voxel (0, 0, 0)'s centre, in (C, H, W) order.
    cells : bool
        Values on cells (one box per voxel, for thresholds) instead of points.
    extra : dict of str to ndarray of shape (C, H, W), optional
        More arrays on the same voxels (a display copy beside raw values).
    """
    if volume.ndim != 3:
        msg = f"volume has shape {volume.shape}, expected (C, H, W)"
        raise VolvizError(msg)
    # The axis rule (x = column, y = row, z = channel) is the exporters' one owner's.
    dims, step, corner = vtk_geometry(volume.shape, spacing, origin)
    if cells:
        corner = tuple(o - s / 2 for o, s in zip(corner, step, strict=True))  # type: ignore[assignment]
        dims = (dims[0] + 1, dims[1] + 1, dims[2] + 1)
    grid = pv.ImageData(dimensions=dims, spacing=step, origin=corner)
    data = grid.cell_data if cells else grid.point_data
    for key, array in {name: volume, **(extra or {})}.items():
        if array.shape != volume.shape:
            msg = f"array {key!r} has shape {array.shape}, expected {volume.shape}"
            raise VolvizError(msg)
        data[key] = vtk_values(np.ascontiguousarray(array, dtype=np.float32))
    return grid


def from_image_data(grid: pv.ImageData, name: str) -> np.ndarray:
    """The inverse of ``to_image_data``: point (or cell) array ``name`` as (C, H, W)."""
    if name in grid.cell_data and name not in grid.point_data:
        w, h, c = grid.dimensions
        return volume_from_values(grid.cell_data[name], (w - 1, h - 1, c - 1))
    return volume_from_values(grid.point_data[name], grid.dimensions)


def still_sampling(grid: pv.ImageData) -> Sampling:
    """Half a voxel of the finest axis (never the mappers' fixed 1.0), at most
    ``MAX_STILL_SAMPLES`` steps along the box diagonal, every pixel."""
    return Sampling(max(0.5 * min(grid.spacing), grid.length / MAX_STILL_SAMPLES), 1.0)


def interactive_sampling(grid: pv.ImageData) -> Sampling:
    """While the camera moves: about ``INTERACTIVE_SAMPLES`` steps per diagonal (at least one
    voxel), one ray per 3x3 pixels."""
    return Sampling(max(min(grid.spacing), grid.length / INTERACTIVE_SAMPLES), 3.0)


def apply_sampling(actor: pv.Volume, sampling: Sampling) -> None:
    """Lock the mapper's sampling (no automatic adjustment)."""
    mapper = actor.mapper
    mapper.SetAutoAdjustSampleDistances(False)
    mapper.SetSampleDistance(sampling.sample_distance)
    mapper.SetImageSampleDistance(sampling.image_sample_distance)


def new_plotter(style: Style, shape: tuple[int, int] = (1, 1), **kwargs: Any) -> pv.Plotter:
    """A Plotter with the house background and ``style``'s window size."""
    guard_triton()
    plotter = pv.Plotter(
        off_screen=style.off_screen, window_size=list(style.window_size), shape=shape, **kwargs
    )
    plotter.set_background(BACKGROUND)
    return plotter


def add_volume(
    plotter: pv.Plotter,
    grid: pv.ImageData,
    style: Style,
    *,
    scalars: str = "activation",
    bar: Bar | None = None,
    floor: float = 0.0,
    name: str | None = None,
) -> pv.Volume:
    """Add ``grid`` (display values 0..1) as a ray-cast volume with locked sampling, coloured
    by ``style.cmap``, opacity by ``style.preset`` and a colour ``bar`` (none: no bar)."""
    actor = plotter.add_volume(
        grid,
        scalars=scalars,
        cmap=style.cmap,
        opacity="linear",
        clim=(0.0, 1.0),
        # The GPU ray caster directly: `smart` re-picks its own sampling and ignores ours.
        mapper="gpu",
        name=name,
        **bar_args(bar),
    )
    # The bar shows colours only; opacity lives in the volume property.
    actor.mapper.lookup_table.apply_opacity(1.0)
    set_opacity(actor, opacity_curve(style.preset, scale=style.opacity_scale, floor=floor))
    actor.prop.SetInterpolationTypeToLinear()
    apply_sampling(actor, still_sampling(grid))
    return actor


def set_opacity(actor: pv.Volume, curve: np.ndarray) -> None:
    """Replace the volume's opacity transfer function by ``curve`` (n,) over display 0..1."""
    function = actor.prop.GetScalarOpacity()
    function.RemoveAllPoints()
    # one call for all points (x1, y1, x2, y2, ...): 256 AddPoint calls cost 0.4 ms a volume,
    # 20 ms for the served stack's 50 at each slider step
    points = np.column_stack([np.linspace(0.0, 1.0, curve.size), curve]).astype(np.float64)
    function.FillFromDataPointer(curve.size, points.ravel())


def volume_plotter(
    volume: np.ndarray,
    *,
    style: Style | None = None,
    plotter: pv.Plotter | None = None,
    **options: Any,
) -> pv.Plotter:
    """A Plotter showing :func:`volume_view` (same parameters).

    ``plotter``: an empty Plotter of ``style``'s window size to draw into (reused GL
    context, see :mod:`volviz.render.still`); default: a new one.
    """
    from volviz.render.draw import draw
    from volviz.render.model import Scene

    fields = {f.name for f in dataclasses.fields(Style)}
    looks = {k: v for k, v in options.items() if k in fields}
    style = dataclasses.replace(style or Style(), **_style_overrides(looks))
    view = volume_view(volume, style=style, **{k: options[k] for k in options.keys() - fields})
    return draw(Scene([view]), style, plotter=plotter)


def volume_view(
    volume: np.ndarray,
    *,
    title: str = "",
    style: Style | None = None,
    order: ChannelOrder | None = None,
    gap: int = 0,
    bands: bool = False,
    **overrides: Any,
) -> View:
    """The volume rendering of ``volume`` with labelled axes, as a scene panel.

    Parameters
    ----------
    volume : ndarray of shape (C, H, W)
        Raw values; scaled for display by ``style.normalization``.
    title : str
        Text at the top left.
    style : Style, optional
        Look of the scene; keyword ``overrides`` replace its fields (``normalization=``,
        ``cmap=``, ``window_size=`` ...).
    order : ChannelOrder, optional
        Show channels in this order; the z axis then counts positions.
    gap : int
        Empty slices between clusters of ``order``.
    bands : bool
        Coloured bands beside the volume, one colour per cluster of ``order``.
    """
    style = dataclasses.replace(style or Style(), **_style_overrides(overrides))
    limits = display_range([volume], style.normalization)
    shown, label = normalize(volume, style.normalization, limits=limits)
    arranged = arrange(shown, order, gap=gap, fill=signed_fill(style))
    return arranged_view(arranged, style, limits, title, f"display: {label}", bands=bands)


def signed_fill(style: Style) -> float:
    """The transparent display value of gap slices and missing values: 0.5 (data 0) for
    symmetric scaling, else 0."""
    return 0.5 if style.normalization == "symmetric" else 0.0


def volume_layer(
    display: np.ndarray,
    style: Style,
    spacing: tuple[float, float, float],
    bar: Bar | None,
    *,
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> VolumeLayer:
    """Display values 0..1 (D, H, W) drawn with ``style``'s colours and opacity."""
    return VolumeLayer(
        display=display,
        spacing=spacing,
        cmap=style.cmap,
        opacity=opacity_curve(style.preset, scale=style.opacity_scale),
        origin=origin,
        signed=style.normalization == "symmetric",
        bar=bar,
    )


def arranged_view(
    arranged: Arranged,
    style: Style,
    limits: tuple[float, float] | None,
    title: str,
    note: str,
    *,
    bands: bool = False,
    bar_below: bool = False,
) -> View:
    """A panel of the display volume ``arranged`` (data range ``limits`` shown as 0..1)."""
    spacing = style.spacing or auto_spacing(arranged.volume.shape)
    bar = display_bar(style.quantity, limits, below=bar_below)
    layer = volume_layer(arranged.volume, style, spacing, bar)
    grid = to_image_data(arranged.volume, spacing, name="activation")
    return finish_view(View(title, note, volumes=[layer]), arranged, grid, bands=bands)


def finish_view(
    view: View,
    arranged: Arranged,
    grid: pv.ImageData,
    *,
    bands: bool,
    outline: bool = False,
) -> View:
    """Add cluster bands, the box outline and the labelled axes of ``grid`` to ``view``."""
    if bands and len(arranged.clusters) > 1:
        for mesh, colour in band_meshes(arranged, grid):
            view.meshes.append(MeshLayer(mesh, color=colour, lighting=False))
    if outline:
        view.meshes.append(MeshLayer(grid.outline(), color="#8a8f99", line_width=1))
    view.axes = axes_of(grid, arranged.volume.shape)
    view.axis_titles = ("column", "row", arranged.axis_title)
    return view


def _style_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Keyword overrides of ``Style`` fields (unknown names raise ``TypeError``)."""
    out = dict(overrides)
    if out.get("spacing") is not None:
        out["spacing"] = tuple(out["spacing"])
    fields = {f.name for f in dataclasses.fields(Style)}
    unknown = sorted(set(out) - fields)
    if unknown:
        msg = f"unknown style option(s): {', '.join(unknown)}"
        raise TypeError(msg)
    return out


def save_screenshot(plotter: pv.Plotter, path: str | os.PathLike[str]) -> Path:
    """Render and write a PNG via a temporary name, then close the plotter."""
    target = Path(path)
    try:
        with atomic_file(target) as tmp:
            plotter.render()
            plotter.screenshot(str(tmp))
    finally:
        plotter.close()
    return target


def screenshot_array(plotter: pv.Plotter) -> np.ndarray:
    """Render now and return the frame, ndarray of shape (height, width, 3) uint8."""
    plotter.render()
    return np.asarray(plotter.screenshot(return_img=True))
