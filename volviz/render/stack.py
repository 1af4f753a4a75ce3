"""Layer stack: every captured layer of one image as a box in one scene, in network order.

Boxes share one spatial scale (one map pixel = one unit, so a 112x112 map is 16 times as
wide as a 7x7 one) and one channel scale (depth grows with the square root of the channel
count by default, so a 1,280-channel layer does not dwarf the rest), in rows read left to
right, top to bottom, each labelled with its index, name and shape (as in TensorSpace).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyvista as pv

from volviz.errors import VolvizError
from volviz.render.model import MeshLayer, Scene, View, display_bar
from volviz.render.volume import (
    Style,
    add_volume,
    apply_sampling,
    from_image_data,
    interactive_sampling,
    to_image_data,
    volume_layer,
)
from volviz.store.views import normalize

CHANNEL_SCALES = ("sqrt", "linear")
PROXY_VOXELS = 1_000_000  # the one-volume stand-in drawn while the camera moves
LONG_LABELS = 12  # up to this many layers, labels carry the layer names


@dataclass(frozen=True)
class Placement:
    """Where one layer's box goes: voxel (0, 0, 0) centre and voxel size, (C, H, W) order."""

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    depth: float


def stack_layout(
    shapes: Sequence[tuple[int, int, int]],
    *,
    columns: int | None = None,
    channel_scale: str = "sqrt",
) -> list[Placement]:
    """Positions of (C, H, W) boxes in rows of ``columns`` (default: one row up to
    6 layers, else about sqrt(2 n)).

    Boxes are centred on y = 0 within a row; rows go down the channel axis (+z).
    """
    if not shapes:
        msg = "the layer stack needs at least one layer"
        raise VolvizError(msg)
    if channel_scale not in CHANNEL_SCALES:
        msg = f"is not one of {', '.join(CHANNEL_SCALES)}"
        raise VolvizError(msg, param="channel_scale", value=channel_scale)
    n = len(shapes)
    if columns is None:
        columns = n if n <= 6 else math.ceil(math.sqrt(2 * n))
    if columns < 1:
        raise VolvizError("must be at least 1", param="columns", value=columns)
    spatial = max(max(h, w) for _, h, w in shapes)
    most = max(c for c, _, _ in shapes)
    if channel_scale == "sqrt":
        depths = [spatial * math.sqrt(c / most) for c, _, _ in shapes]
    else:
        depths = [spatial * c / most for c, _, _ in shapes]
    gap = 0.25 * spatial
    out: list[Placement] = []
    x = z = 0.0
    row_depth = 0.0
    for i, ((c, h, w), depth) in enumerate(zip(shapes, depths, strict=True)):
        if i and i % columns == 0:
            x, z, row_depth = 0.0, z + row_depth + gap, 0.0
        dz = depth / c
        out.append(Placement((z + dz / 2, -h / 2 + 0.5, x + 0.5), (dz, 1.0, 1.0), depth))
        x += w + gap
        row_depth = max(row_depth, depth)
    return out


def stack_view(
    layers: Sequence[tuple[str, np.ndarray]],
    *,
    title: str = "",
    style: Style | None = None,
    columns: int | None = None,
    channel_scale: str = "sqrt",
) -> View:
    """All ``layers`` ((name, (C, H, W) array) in network order) side by side in one panel.

    Each layer is scaled for display on its own (units differ between layers) with
    ``style.normalization``.
    """
    style = style or Style()
    shapes = [tuple(v.shape) for _, v in layers]
    if any(len(s) != 3 for s in shapes):
        msg = f"every layer must be (C, H, W); got shapes {shapes}"
        raise VolvizError(msg)
    places = stack_layout(shapes, columns=columns, channel_scale=channel_scale)  # type: ignore[arg-type]
    note = (
        f"{len(layers)} layers; 1 unit = 1 map pixel; depth ~ {channel_scale}(channels); "
        f"display: {style.normalization} per layer"
    )
    view = View(title, note, axis_titles=("column", "row", f"channel ({channel_scale} scale)"))
    for i, ((name, volume), place) in enumerate(zip(layers, places, strict=True)):
        shown, _ = normalize(volume, style.normalization)
        grid = to_image_data(shown, place.spacing, "activation", origin=place.origin)
        # Each layer has its own range: one bar for all, in display 0..1.
        bar = display_bar(style.quantity, None) if i == 0 else None
        view.volumes.append(volume_layer(shown, style, place.spacing, bar, origin=place.origin))
        x0, x1, y0, _, z0, _ = grid.bounds
        shape = "x".join(map(str, volume.shape))
        # Many layers: index and shape only, or the labels cover the boxes.
        text = f"{i} {name}\n{shape}" if len(layers) <= LONG_LABELS else f"{i}\n{shape}"
        view.labels.append((((x0 + x1) / 2, y0, z0), text))
        view.meshes.append(MeshLayer(grid.outline(), color="#5a5f69", line_width=1))
    if len(layers) > 6:  # rows of boxes: a wide, flat scene that its bounding sphere oversizes
        view.zoom = 1.5
    return view


def stack_plotter(
    layers: Sequence[tuple[str, np.ndarray]], *, plotter: pv.Plotter | None = None, **options: Any
) -> pv.Plotter:
    """A Plotter of :func:`stack_view` (same parameters) that draws a one-volume stand-in
    while the camera moves.

    ``plotter``: a Plotter to draw into instead of a new one (see :func:`~volviz.render.draw.draw`).
    """
    from volviz.render.draw import draw

    style = options.get("style") or Style()
    observed = plotter is not None and "volviz_moving_observed" in plotter.__dict__
    plotter = draw(Scene([stack_view(layers, **options)]), style, plotter=plotter)
    actors = [a for a in plotter.renderer.actors.values() if isinstance(a, pv.Volume)]
    proxy = add_volume(plotter, stack_proxy([a.mapper.dataset for a in actors]), style)
    proxy.SetVisibility(False)
    # Same opacity per unit length as the layers, coarse sampling: it only shows while moving.
    unit = float(np.median([a.prop.GetScalarOpacityUnitDistance() for a in actors]))
    proxy.prop.SetScalarOpacityUnitDistance(unit)
    apply_sampling(proxy, interactive_sampling(proxy.mapper.dataset))
    plotter.__dict__["volviz_moving"] = (proxy, actors)
    if plotter.iren is not None and not observed:  # once per Plotter (they read volviz_moving)
        plotter.__dict__["volviz_moving_observed"] = True
        plotter.iren.add_observer("StartInteractionEvent", lambda *_: set_moving(plotter, True))
        plotter.iren.add_observer("EndInteractionEvent", lambda *_: set_moving(plotter, False))
    return plotter


def stack_proxy(grids: Sequence[pv.ImageData], max_voxels: int = PROXY_VOXELS) -> pv.ImageData:
    """All layer grids resampled (nearest voxel) into one coarse grid of the whole scene.

    Drawing 49 volumes costs 49 ray-casting passes; while the camera moves one pass over this
    stand-in is drawn instead (see ``set_moving``).
    """
    lo = np.min([g.bounds[::2] for g in grids], axis=0)
    hi = np.max([g.bounds[1::2] for g in grids], axis=0)
    step = float(np.cbrt(np.prod(hi - lo) / max_voxels))
    dims = np.maximum(np.ceil((hi - lo) / step).astype(int), 1)  # (nx, ny, nz)
    values = np.zeros(dims[::-1], np.float32)  # (z, y, x)
    for grid in grids:
        data = from_image_data(grid, "activation")
        spans = []
        for axis in range(3):
            first = int(np.floor((grid.bounds[2 * axis] - lo[axis]) / step))
            last = int(np.ceil((grid.bounds[2 * axis + 1] - lo[axis]) / step))
            centres = lo[axis] + (np.arange(first, last) + 0.5) * step
            index = np.rint((centres - grid.origin[axis]) / grid.spacing[axis]).astype(int)
            keep = (index >= 0) & (index < grid.dimensions[axis])
            spans.append((np.arange(first, last)[keep], index[keep]))
        (px, ix), (py, iy), (pz, iz) = spans
        values[np.ix_(pz, py, px)] = data[np.ix_(iz, iy, ix)]
    origin = (lo[2] + step / 2, lo[1] + step / 2, lo[0] + step / 2)
    return to_image_data(values, (step, step, step), "activation", origin=origin)


def set_moving(plotter: pv.Plotter, moving: bool) -> None:
    """Swap a stack's layer volumes for its one-volume stand-in while the camera moves."""
    proxy, actors = plotter.__dict__.get("volviz_moving", (None, []))
    if proxy is None:
        return
    proxy.SetVisibility(moving)
    for actor in actors:
        actor.SetVisibility(not moving)
