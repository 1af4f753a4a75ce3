"""Surface scenes of one (C, H, W) volume: thresholded voxels (CNN-VIS's binary voxels),
isosurfaces, orthogonal slice planes and a single-channel map.

Every ``*_view`` builder returns a scene panel (:class:`~volviz.render.model.View`) that
:mod:`volviz.render.draw` (``*_plotter``) and :mod:`volviz.render.html` draw; x = column,
y = row, z = channel (or position in an ordering, whose slices map back to original channels).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvista as pv

from volviz.errors import VolvizError
from volviz.render.model import Bar, MeshLayer, Scene, View, axes_of, display_bar
from volviz.render.ordered import Arranged, ChannelOrder, arrange
from volviz.render.volume import Style, finish_view, to_image_data
from volviz.store.views import auto_spacing, display_range, normalize

DEFAULT_PERCENTILE = 95.0


def threshold_level(
    volume: np.ndarray, *, level: float | None = None, percentile: float | None = None
) -> tuple[float, str]:
    """The raw value to threshold at and how it was chosen.

    ``level`` wins; else ``percentile`` (0..100) of all values; else the 95th percentile.
    """
    if level is not None:
        if not np.isfinite(level):
            raise VolvizError("is not a finite number", param="level", value=level)
        return float(level), f"level {level:.3g}"
    p = DEFAULT_PERCENTILE if percentile is None else percentile
    if not 0.0 <= p <= 100.0:
        raise VolvizError("is not in 0..100", param="percentile", value=p)
    value = float(np.percentile(volume, p))
    return value, f"{p:g}th percentile = {value:.3g}"


def _prepare(
    volume: np.ndarray, style: Style, order: ChannelOrder | None, gap: int
) -> tuple[Arranged, np.ndarray, pv.ImageData, str, tuple[float, float] | None]:
    """Display-scale, arrange, and grid (cells) the volume; raw values kept as ``raw``.

    Also returns the data range shown as display 0..1 (None: per-channel scaling).
    """
    limits = display_range([volume], style.normalization)
    shown, label = normalize(volume, style.normalization, limits=limits)
    arranged = arrange(shown, order, gap=gap)
    raw = arrange(np.asarray(volume, np.float32), order, gap=gap, fill=np.nan).volume
    spacing = style.spacing or auto_spacing(arranged.volume.shape)
    grid = to_image_data(arranged.volume, spacing, "activation", cells=True, extra={"raw": raw})
    return arranged, raw, grid, label, limits


def threshold_view(
    volume: np.ndarray,
    *,
    level: float | None = None,
    percentile: float | None = None,
    smooth: bool = False,
    title: str = "",
    style: Style | None = None,
    order: ChannelOrder | None = None,
    gap: int = 0,
    bands: bool = False,
) -> View:
    """Voxels at or above a threshold drawn as solid boxes (``smooth``: an isosurface).

    Parameters
    ----------
    volume : ndarray of shape (C, H, W)
        Raw values; the threshold applies to them, colours show display values.
    level, percentile : float, optional
        Threshold as a raw value, or as a percentile of ``volume`` (default 95).
    smooth : bool
        Marching-cubes isosurface at the level, coloured by channel position.
    """
    style = style or Style()
    cut, how = threshold_level(volume, level=level, percentile=percentile)
    arranged, raw, grid, label, limits = _prepare(volume, style, order, gap)
    view = View(title)
    mesh = _threshold_mesh(grid, arranged, cut, smooth=smooth, style=style, limits=limits)
    view.meshes.extend([mesh] if mesh is not None else [])
    kind = "isosurface" if smooth else "voxels"
    count = int(np.count_nonzero(raw >= cut))
    view.note = f"{kind} >= {how}: {count} of {volume.size} voxels; colour: {label}"
    return finish_view(view, arranged, grid, bands=bands, outline=True)


def _threshold_mesh(
    grid: pv.ImageData,
    arranged: Arranged,
    cut: float,
    *,
    smooth: bool,
    style: Style,
    limits: tuple[float, float] | None,
) -> MeshLayer | None:
    """Voxel boxes at or above raw ``cut`` coloured by display value, or (``smooth``) the
    isosurface at ``cut`` coloured by channel position; ``None`` when nothing reaches it."""
    if not smooth:
        solid = grid.threshold(value=cut, scalars="raw", preference="cell")
        if not solid.n_cells:
            return None
        surface = solid.extract_surface(algorithm="dataset_surface")
        bar = display_bar(style.quantity, limits)
        return MeshLayer(surface, scalars="activation", cmap=style.cmap, bar=bar)
    surface = grid.cell_data_to_point_data().contour([cut], scalars="raw")
    if not surface.n_points:
        return None
    surface["position"] = (surface.points[:, 2] - grid.origin[2]) / grid.spacing[2] - 0.5
    return MeshLayer(
        surface,
        scalars="position",
        cmap="viridis",
        clim=(0.0, float(arranged.volume.shape[0] - 1)),
        bar=Bar(arranged.axis_title.split(" ")[0]),
        smooth_shading=True,
    )


def slice_index(value: int | None, size: int, name: str) -> int:
    """``value`` checked against 0..size-1; the middle when ``None``."""
    if value is None:
        return size // 2
    if not 0 <= value < size:
        raise VolvizError(f"is not in 0..{size - 1}", param=name, value=value)
    return int(value)


def slices_view(
    volume: np.ndarray,
    *,
    channel: int | None = None,
    row: int | None = None,
    column: int | None = None,
    title: str = "",
    style: Style | None = None,
    order: ChannelOrder | None = None,
    gap: int = 0,
    bands: bool = False,
) -> View:
    """Three orthogonal planes through (``column``, ``row``, ``channel``); default the middle.

    ``channel`` is an original channel index, also when ``order`` shows another order.
    """
    style = style or Style()
    arranged, _, grid, label, limits = _prepare(volume, style, order, gap)
    c, h, w = volume.shape
    z = arranged.slice_of(slice_index(channel, c, "channel"))
    y, x = slice_index(row, h, "row"), slice_index(column, w, "column")
    points = grid.cell_data_to_point_data()  # cells end half a voxel out; points sit on centres
    centre = np.array(grid.origin) + np.array(grid.spacing) * (np.array([x, y, z]) + 0.5)
    planes = points.slice_orthogonal(x=centre[0], y=centre[1], z=centre[2])
    bar = display_bar(style.quantity, limits)
    note = f"slices: channel {arranged.channel_at[z]}, row {y}, column {x}; display: {label}"
    view = View(title, note)
    view.meshes.append(
        MeshLayer(planes, scalars="activation", cmap=style.cmap, bar=bar, lighting=False)
    )
    return finish_view(view, arranged, grid, bands=bands, outline=True)


def channel_view(
    volume: np.ndarray,
    channel: int,
    *,
    title: str = "",
    style: Style | None = None,
    order: ChannelOrder | None = None,
) -> View:
    """One feature map as a picture (row 0 at the top), display range of the whole volume.

    ``channel`` is the original channel index; with ``order`` the title also gives its
    position in that order.
    """
    style = style or Style()
    c = volume.shape[0]
    index = slice_index(channel, c, "channel")
    limits = display_range([volume], style.normalization)
    shown, label = normalize(volume, style.normalization, limits=limits)
    where = ""
    if order is not None:
        where = f", position {arrange(shown, order).slice_of(index)} in {order.name}"
    one = shown[index : index + 1]
    grid = to_image_data(one, (1.0, 1.0, 1.0), "activation", cells=True)
    text = f"channel {index} of {c}{where}" + (f"  {title}" if title else "")
    bar = display_bar(style.quantity, limits)
    layer = MeshLayer(grid, scalars="activation", cmap=style.cmap, bar=bar, lighting=False)
    view = View(text, f"display: {label}", meshes=[layer], camera="front")
    view.axes = axes_of(grid, one.shape, show_z=False)
    view.axis_titles = ("column", "row", "")
    return view


def _plotter(view: View, style: Style | None) -> pv.Plotter:
    from volviz.render.draw import draw

    return draw(Scene([view]), style or Style())


def threshold_plotter(
    volume: np.ndarray, *, style: Style | None = None, **options: Any
) -> pv.Plotter:
    """A Plotter of :func:`threshold_view` (same parameters)."""
    return _plotter(threshold_view(volume, style=style, **options), style)


def slices_plotter(volume: np.ndarray, *, style: Style | None = None, **options: Any) -> pv.Plotter:
    """A Plotter of :func:`slices_view` (same parameters)."""
    return _plotter(slices_view(volume, style=style, **options), style)


def channel_plotter(
    volume: np.ndarray, channel: int, *, style: Style | None = None, **options: Any
) -> pv.Plotter:
    """A Plotter of :func:`channel_view` (same parameters)."""
    return _plotter(channel_view(volume, channel, style=style, **options), style)
