"""The plotly backend: self-contained interactive HTML pages of any scene, readable offline.

Why plotly: vtk.js (pyvista's HTML export) draws meshes but fails on ``add_volume`` scenes;
plotly's ``go.Volume`` draws a real volume in the browser. ``scene_figure`` draws the same
:class:`~volviz.render.model.Scene` the PyVista backend (:mod:`volviz.render.draw`) draws
into the PNG, with no VTK Plotter: volume layers become ``go.Volume`` (same display values,
colour map and opacity curve), meshes ``go.Mesh3d``, lines ``go.Scatter3d``; panels get
linked cameras. plotly.js is embedded: no network needed. A training run's page (one frame
per record, a step slider) is :mod:`volviz.render.time_html`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv

from volviz.render.annotate import BACKGROUND
from volviz.render.model import (
    Bar,
    MeshLayer,
    Scene,
    View,
    VolumeLayer,
    camera_direction,
    index_ticks,
)
from volviz.render.volume import to_image_data

HTML_MAX_POINTS = 400_000  # volume samples over all panels; more are max-pooled
VOLUME_SURFACES = 17
LINK_CAMERAS_JS = """
var gd = document.getElementById('{plot_id}');
var scenes = Object.keys(gd.layout).filter(function (k) { return k.indexOf('scene') === 0; });
var busy = false;
gd.on('plotly_relayout', function (ev) {
  if (busy || scenes.length < 2) { return; }
  var key = Object.keys(ev).filter(function (k) { return /^scene\\d*\\.camera$/.test(k); })[0];
  if (!key) { return; }
  var update = {};
  scenes.forEach(function (s) { if (s + '.camera' !== key) { update[s + '.camera'] = ev[key]; } });
  busy = true;
  Plotly.relayout(gd, update).then(function () { busy = false; });
});
"""


def _colorscale(cmap: str, n: int = 11) -> list[list[Any]]:
    """``n`` samples of colour map ``cmap`` as pyvista resolves it (matplotlib, colorcet ...)."""
    table = pv.LookupTable(cmap=cmap)
    out = []
    for v in np.linspace(0.0, 1.0, n):
        rgb = [0.0, 0.0, 0.0]
        table.GetColor(float(v), rgb)
        out.append([float(v), "rgb({},{},{})".format(*(round(255 * c) for c in rgb))])
    return out


def _pool(
    volume: np.ndarray, factors: tuple[int, int, int], centre: float | None = None
) -> np.ndarray:
    """Block maximum over ``factors`` (fz, fy, fx); edges padded by repetition.

    With ``centre`` (signed data: the display value of 0, e.g. 0.5) each block keeps its value
    farthest from ``centre`` on either side, so negative extremes survive as well as positive.
    """
    if factors == (1, 1, 1):
        return volume
    pad = [(0, -n % f) for n, f in zip(volume.shape, factors, strict=True)]
    v = np.pad(volume, pad, mode="edge")
    c, h, w = (n // f for n, f in zip(v.shape, factors, strict=True))
    fz, fy, fx = factors
    # One axis per block (a copy): its max is ~3x faster than a max over three strided axes.
    blocks = v.reshape(c, fz, h, fy, w, fx).transpose(0, 2, 4, 1, 3, 5).reshape(c, h, w, -1)
    if centre is None:
        return blocks.max(axis=-1)
    pick = np.abs(blocks - centre).argmax(axis=-1)
    return np.take_along_axis(blocks, pick[..., None], axis=-1)[..., 0]


def _factors(shape: tuple[int, ...], f: int) -> tuple[int, int, int]:
    return tuple(min(f, max(1, n // 4)) for n in shape)  # type: ignore[return-value]


def _colorbar(bar: Bar, clim: tuple[float, float], domain: Sequence[float]) -> dict[str, Any]:
    """A horizontal colour bar under the panel; with ``bar.limits`` its three labels are the
    data values of the colours' 0, 0.5 and 1 (as on the PNG's bar)."""
    out: dict[str, Any] = {"title": {"text": bar.title, "side": "top"}, **_bar_under(domain)}
    if bar.limits is not None:
        lo, hi = bar.limits
        c0, c1 = clim
        out["tickvals"] = [c0, (c0 + c1) / 2, c1]
        out["ticktext"] = [f"{lo:.3g}", f"{(lo + hi) / 2:.3g}", f"{hi:.3g}"]
    return out


def _bar_under(domain: Sequence[float]) -> dict[str, Any]:
    """Placement of a horizontal colour bar under the panel spanning ``domain`` (x, 0..1)."""
    return {
        "orientation": "h",
        "x": (domain[0] + domain[1]) / 2,
        "xanchor": "center",
        "y": 0.06,
        "yanchor": "bottom",
        "len": 0.6 * (domain[1] - domain[0]),
        "thickness": 12,
    }


def pooled(layer: VolumeLayer, f: int) -> tuple[np.ndarray, np.ndarray]:
    """World points (n, 3) and display values as bytes (n,) of ``layer`` pooled by up to
    ``f`` per axis (signed layers keep the value farthest from 0.5, i.e. both signs)."""
    values = layer.display
    factors = _factors(values.shape, f)
    step = np.asarray(layer.spacing)
    spacing = step * factors  # (dz, dy, dx)
    origin = np.asarray(layer.origin) + (np.asarray(factors) - 1) / 2 * step
    pooled = _pool(values, factors, centre=0.5 if layer.signed else None)
    small = to_image_data(pooled, tuple(spacing), "value", origin=tuple(origin))
    points = np.asarray(small.points, dtype=np.float32)
    # Display values as bytes (256 levels; the colour and opacity scales are relative).
    return points, np.round(np.clip(pooled.ravel(), 0.0, 1.0) * 255).astype(np.uint8)


def _volume_trace(layer: VolumeLayer, f: int, domain: Sequence[float]) -> Any:
    import plotly.graph_objects as go

    pts, value = pooled(layer, f)
    xs = np.linspace(0.0, 1.0, 11)
    curve = np.interp(xs, np.linspace(0.0, 1.0, layer.opacity.size), layer.opacity)
    top = max(float(curve.max()), 1e-6)
    visible = xs[curve > 0.01 * top]
    bar = layer.bar
    shown = bar or Bar("display")
    return go.Volume(
        x=pts[:, 0],
        y=pts[:, 1],
        z=pts[:, 2],
        value=value,
        cmin=0,
        cmax=255,
        isomin=float(max(visible[0] - 0.1, 0.0)) * 255 if visible.size else 0.0,
        isomax=255,
        opacity=0.3,
        opacityscale=[[float(x), float(y / top)] for x, y in zip(xs, curve, strict=True)],
        colorscale=_colorscale(layer.cmap),
        surface_count=VOLUME_SURFACES,
        caps={"x_show": False, "y_show": False, "z_show": False},
        showscale=bar is not None,
        # Without a data range (per-channel scaling) the bar reads display 0..1.
        colorbar=_colorbar(
            dataclasses.replace(shown, limits=shown.limits or (0.0, 1.0)), (0.0, 255.0), domain
        ),
        hoverinfo="skip",
    )


def _line_trace(surf: pv.PolyData, colour: str) -> Any:
    import plotly.graph_objects as go

    lines = surf.lines.reshape(-1, 3)[:, 1:]
    seg = np.full((len(lines) * 3, 3), np.nan)
    seg[0::3], seg[1::3] = surf.points[lines[:, 0]], surf.points[lines[:, 1]]
    return go.Scatter3d(
        x=seg[:, 0],
        y=seg[:, 1],
        z=seg[:, 2],
        mode="lines",
        line={"color": colour, "width": 2},
        hoverinfo="skip",
        showlegend=False,
    )


def _mesh_traces(layer: MeshLayer, domain: Sequence[float] = (0.0, 1.0)) -> list[Any]:
    import plotly.graph_objects as go

    mesh = layer.mesh
    surf = mesh if isinstance(mesh, pv.PolyData) else mesh.extract_surface(algorithm=None)
    colour = pv.Color(layer.color or "white").hex_rgb
    out: list[Any] = [_line_trace(surf, colour)] if surf.n_lines else []
    tri = surf.triangulate()
    if not tri.n_cells:
        return out
    faces = tri.faces.reshape(-1, 4)[:, 1:]
    kwargs: dict[str, Any] = {"color": colour}
    array = layer.scalars
    if array and (array in tri.cell_data or array in tri.point_data):
        on_cells = array in tri.cell_data
        kwargs = {
            "intensity": np.asarray(tri.cell_data[array] if on_cells else tri.point_data[array]),
            "intensitymode": "cell" if on_cells else "vertex",
            "colorscale": _colorscale(layer.cmap or "viridis"),
            "cmin": layer.clim[0],
            "cmax": layer.clim[1],
            "showscale": layer.bar is not None,
        }
        if layer.bar is not None:  # the scene's colour bar, in data units where known
            kwargs["colorbar"] = _colorbar(layer.bar, layer.clim, domain)
    out.append(
        go.Mesh3d(
            x=tri.points[:, 0],
            y=tri.points[:, 1],
            z=tri.points[:, 2],
            i=faces[:, 0],
            j=faces[:, 1],
            k=faces[:, 2],
            flatshading=True,
            hoverinfo="skip",
            **kwargs,
        )
    )
    return out


def _label_trace(labels: list[tuple[tuple[float, float, float], str]]) -> Any:
    import plotly.graph_objects as go

    xyz = np.array([p for p, _ in labels])
    return go.Scatter3d(
        x=xyz[:, 0],
        y=xyz[:, 1],
        z=xyz[:, 2],
        mode="text",
        text=[t.replace("\n", "<br>") for _, t in labels],
        textfont={"color": "white", "size": 10},
        showlegend=False,
        hoverinfo="skip",
    )


def _scene_layout(view: View, zoom: float = 1.0) -> dict[str, Any]:
    """``zoom`` > 1 moves the eye back (narrow side-by-side panels would crop the volume)."""
    direction, up, _ = camera_direction(view.camera)
    flat = view.camera == "front"  # looking straight at the maps (channel view)
    eye = -direction * (1.2 if flat else 1.9) * zoom + 0.0  # no -0.0
    ticks = index_ticks(view.axes) if view.axes is not None else [([], [])] * 3
    axes = {}
    for key, title, (values, texts) in zip(
        ("xaxis", "yaxis", "zaxis"), view.axis_titles, ticks, strict=True
    ):
        axes[key] = {
            "title": {"text": title},
            "color": "white",
            "backgroundcolor": BACKGROUND,
            "showbackground": True,
            "gridcolor": "#3a3f49",
        }
        if values:
            axes[key].update(tickvals=values, ticktext=texts)
    return {
        "aspectmode": "data",
        "dragmode": "orbit",  # turntable would force z up; our maps read with z down
        "bgcolor": BACKGROUND,
        "camera": {
            "projection": {"type": "orthographic" if flat else "perspective"},
            "eye": dict(zip("xyz", map(float, eye), strict=True)),
            "up": dict(zip("xyz", map(float, up), strict=True)),
        },
        **axes,
    }


def _wrap(title: str) -> str:
    """A panel title on at most two lines, broken at its last double space."""
    head, sep, tail = title.rpartition("  ")
    return f"{head}<br>{tail}" if sep else title


def pool_factor(shapes: Sequence[tuple[int, ...]], max_points: int) -> int:
    """The smallest pooling factor that keeps all volumes of ``shapes`` under ``max_points``."""
    total, f = sum(math.prod(s) for s in shapes), 1
    while total > max_points and f < 64:
        f += 1
        total = sum(
            math.prod(-(-n // g) for n, g in zip(s, _factors(s, f), strict=True)) for s in shapes
        )
    return f


def _add_view(fig: Any, view: View, i: int, f: int, zoom: float) -> None:
    """Panel ``i``'s traces and 3D scene layout."""
    key = f"scene{i + 1 if i else ''}"
    domain = fig.layout[key].domain.x
    for layer in view.volumes:
        fig.add_trace(_volume_trace(layer, f, domain), row=1, col=i + 1)
    for mesh in view.meshes:
        for trace in _mesh_traces(mesh, domain):
            fig.add_trace(trace, row=1, col=i + 1)
    if view.labels:
        fig.add_trace(_label_trace(view.labels), row=1, col=i + 1)
    # The scene above its colour bar and the footnote, below the (two-line) titles.
    fig.update_layout(
        {key: {**_scene_layout(view, zoom), "domain": {"x": list(domain), "y": [0.2, 0.9]}}}
    )


def scene_figure(scene: Scene | View, *, max_points: int = HTML_MAX_POINTS) -> Any:
    """``scene`` (or one panel) as a plotly figure (see module docstring); volumes are
    max-pooled so that all of them together stay under ``max_points`` samples."""
    from plotly.subplots import make_subplots

    views = scene.views if isinstance(scene, Scene) else [scene]
    caption = scene.caption if isinstance(scene, Scene) else ""
    n = len(views)
    fig = make_subplots(
        rows=1,
        cols=n,
        specs=[[{"type": "scene"}] * n],
        # Titles wrap at their double spaces: side by side they would overlap.
        subplot_titles=[_wrap(v.title) for v in views] if n > 1 else None,
        horizontal_spacing=0.02,
    )
    for annotation in fig.layout.annotations:
        annotation.font = {"size": 12}
    f = pool_factor([layer.display.shape for v in views for layer in v.volumes], max_points)
    for i, view in enumerate(views):
        _add_view(fig, view, i, f, zoom=1.0 if n == 1 else 1.35)
    notes = [v.note for v in views if v.note]
    if f > 1:
        notes.append(f"HTML: volumes max-pooled by up to {f} per axis")
    fig.update_layout(
        title={"text": views[0].title if n == 1 else caption},
        paper_bgcolor=BACKGROUND,
        font={"color": "white"},
        margin={"l": 0, "r": 0, "t": 40 if n == 1 else 60, "b": 30},
        height=560,  # room for the scene, its colour bar and the footnote
        showlegend=False,
        annotations=[*fig.layout.annotations, _footnote(" | ".join(dict.fromkeys(notes)))],
    )
    return fig


def _footnote(text: str) -> dict[str, Any]:
    return {
        "text": text,
        "x": 0,
        "y": 0,
        "xref": "paper",
        "yref": "paper",
        "showarrow": False,
        "xanchor": "left",
        "yanchor": "bottom",
        "font": {"size": 11},
    }


def write_html(
    scene: Scene | View, path: str | os.PathLike[str], *, max_points: int = HTML_MAX_POINTS
) -> Path:
    """Write ``scene`` as one offline HTML page (plotly.js inside)."""
    return save_page(scene_figure(scene, max_points=max_points), path, post_script=LINK_CAMERAS_JS)


def save_page(fig: Any, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write ``fig`` with plotly.js embedded, under a temporary name renamed when complete."""
    from exporters import atomic_file

    target = Path(path)
    with atomic_file(target) as tmp:
        fig.write_html(
            tmp,
            include_plotlyjs=True,
            full_html=True,
            default_height="96vh",
            config={"displaylogo": False, "responsive": True},
            **options,
        )
    return target
