"""The PyVista backend: a :class:`~volviz.render.model.Scene` drawn into a ``pv.Plotter``
(PNG, GIF/MP4, the window, the served page); the plotly backend is
:mod:`volviz.render.html`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyvista as pv

from volviz.render.annotate import BACKGROUND, add_titles, bar_args, label_axes, map_camera
from volviz.render.model import MeshLayer, Scene, Style, View, VolumeLayer
from volviz.render.volume import add_volume, new_plotter, set_opacity, to_image_data


def draw(scene: Scene, style: Style, *, plotter: pv.Plotter | None = None) -> pv.Plotter:
    """A Plotter (``style``'s window) showing ``scene``, panels side by side, cameras linked.

    ``plotter``: an empty one-panel Plotter to draw into (a reused GL context).
    """
    n = len(scene.views)
    if plotter is None:
        plotter = new_plotter(style, shape=(1, n), border=False) if n > 1 else new_plotter(style)
    for i, view in enumerate(scene.views):
        if n > 1:
            plotter.subplot(0, i)
            plotter.set_background(BACKGROUND)
        draw_view(plotter, view, style)
    if n > 1:
        plotter.link_views()
    if scene.caption:
        if n > 1:
            plotter.subplot(0, 0)
        plotter.add_text(
            scene.caption, position=(0.01, 0.9), viewport=True, font_size=6, color="white"
        )
    return plotter


def draw_view(
    plotter: pv.Plotter, view: View, style: Style, *, names: bool = False, camera: bool = True
) -> list[pv.Volume]:
    """Draw ``view`` into the active panel; returns its volume actors in order.

    ``names``: actors and texts replace those of an earlier call (the viewer's redraws);
    ``camera``: point the camera (off: keep the user's).
    """
    actors = [
        _add_volume(plotter, layer, style, f"volume{k}" if names else None)
        for k, layer in enumerate(view.volumes)
    ]
    for k, mesh in enumerate(view.meshes):
        _add_mesh(plotter, mesh, f"mesh{k}" if names else None)
    if view.labels:
        plotter.add_point_labels(
            np.array([p for p, _ in view.labels]),
            [t for _, t in view.labels],
            font_size=9,
            text_color="white",
            shape=None,
            show_points=False,
            always_visible=True,
        )
    if view.axes is not None:
        label_axes(plotter, view.axes, channel_title=view.axis_titles[2])
    add_titles(plotter, view.title, view.note, names=names)
    if camera:
        map_camera(plotter, view.camera, view.zoom)
    return actors


def _add_volume(
    plotter: pv.Plotter, layer: VolumeLayer, style: Style, name: str | None
) -> pv.Volume:
    grid = to_image_data(layer.display, layer.spacing, "activation", origin=layer.origin)
    look = dataclasses.replace(style, cmap=layer.cmap)
    actor = add_volume(plotter, grid, look, bar=layer.bar, name=name)
    set_opacity(actor, layer.opacity)
    return actor


def _add_mesh(plotter: pv.Plotter, layer: MeshLayer, name: str | None) -> pv.Actor:
    if layer.scalars is None:
        return plotter.add_mesh(
            layer.mesh,
            color=layer.color,
            lighting=layer.lighting,
            line_width=layer.line_width,
            name=name,
        )
    return plotter.add_mesh(
        layer.mesh,
        scalars=layer.scalars,
        cmap=layer.cmap,
        clim=layer.clim,
        lighting=layer.lighting,
        smooth_shading=layer.smooth_shading,
        name=name,
        **bar_args(layer.bar),
    )
