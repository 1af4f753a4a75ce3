"""Self-contained interactive HTML pages of any scene, readable offline.

Why plotly: vtk.js (pyvista's HTML export) draws meshes but fails on ``add_volume`` scenes;
plotly's ``go.Volume`` draws a real volume in the browser. ``plotter_to_figure`` redraws a
built ``pv.Plotter`` with plotly, actor by actor, so PNG and HTML show the same scene: volumes
become ``go.Volume`` (same colours and opacity curve), meshes ``go.Mesh3d``, lines
``go.Scatter3d``; subplots get linked cameras. plotly.js is embedded: no network needed.
A training run (``TimeScene``) becomes a page with one frame per record, a step slider and
play / pause buttons (``write_time_html``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyvista as pv

from volviz.render.annotate import BACKGROUND, Panel
from volviz.render.volume import from_image_data, to_image_data

if TYPE_CHECKING:
    from volviz.render.timeline import TimeScene

HTML_MAX_POINTS = 400_000  # volume samples over all panels; more are max-pooled
HTML_TIME_MAX_POINTS = 4_000_000  # over all frames of a time page (about 5 MB of text)
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


def _colorscale(lookup_table: Any, n: int = 11) -> list[list[Any]]:
    """Sample a VTK lookup table / colour transfer function over its range."""
    out = []
    lo, hi = lookup_table.GetRange()
    for v in np.linspace(0.0, 1.0, n):
        rgb = [0.0, 0.0, 0.0]
        lookup_table.GetColor(lo + v * (hi - lo), rgb)
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


def _colorbar(grid: pv.ImageData, domain: Sequence[float]) -> dict[str, Any]:
    """A horizontal colour bar under the panel, labelled in data units where known."""
    fields = grid.field_data
    title = str(fields["bar_title"][0]) if "bar_title" in fields else "display"
    text = ["0", "0.5", "1"]
    if "display_limits" in fields:
        lo, hi = (float(x) for x in fields["display_limits"])
        text = [f"{lo:.3g}", f"{(lo + hi) / 2:.3g}", f"{hi:.3g}"]
    return {
        "title": {"text": title, "side": "top"},
        **_bar_under(domain),
        "tickvals": [0, 127.5, 255],
        "ticktext": text,
    }


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


def _volume_trace(actor: pv.Volume, f: int, first: bool, domain: Sequence[float]) -> Any:
    import plotly.graph_objects as go

    grid = actor.mapper.dataset
    name = grid.point_data.keys()[0]
    values = from_image_data(grid, name)
    factors = _factors(values.shape, f)
    spacing = np.array(grid.spacing)[::-1] * factors  # (dz, dy, dx)
    origin = (
        np.array(grid.origin)[::-1] + (np.array(factors) - 1) / 2 * np.array(grid.spacing)[::-1]
    )
    signed = "display_signed" in grid.field_data and bool(grid.field_data["display_signed"][0])
    pooled = _pool(values, factors, centre=0.5 if signed else None)
    small = to_image_data(pooled, tuple(spacing), name, origin=tuple(origin))
    opacity = actor.prop.GetScalarOpacity()
    xs = np.linspace(0.0, 1.0, 11)
    curve = np.array([opacity.GetValue(x) for x in xs])
    top = max(float(curve.max()), 1e-6)
    visible = xs[curve > 0.01 * top]
    pts = np.asarray(small.points, dtype=np.float32)
    # Display values as bytes (256 levels; the colour and opacity scales are relative).
    value = np.round(np.clip(small.point_data[name], 0.0, 1.0) * 255).astype(np.uint8)
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
        colorscale=_colorscale(actor.prop.GetRGBTransferFunction(0)),
        surface_count=VOLUME_SURFACES,
        caps={"x_show": False, "y_show": False, "z_show": False},
        # Every volume that has a bar in the PNG (a signed panel always has its own) gets one.
        showscale=first or "bar_title" in grid.field_data,
        colorbar=_colorbar(grid, domain),
        hoverinfo="skip",
    )


def _mesh_bar(lookup_table: Any, lo: float, hi: float, domain: Sequence[float]) -> dict[str, Any]:
    """The PNG bar's data-unit labels (the lookup table's annotations) under the panel."""
    n = lookup_table.GetNumberOfAnnotatedValues()
    values = [float(lookup_table.GetAnnotatedValue(i).ToDouble()) for i in range(n)]
    texts = [str(lookup_table.GetAnnotation(i)) for i in range(n)]
    return {
        **_bar_under(domain),
        "tickvals": [lo + v * (hi - lo) for v in values],
        "ticktext": texts,
    }


def _mesh_traces(actor: pv.Actor, domain: Sequence[float] = (0.0, 1.0)) -> list[Any]:
    import plotly.graph_objects as go

    mesh = actor.mapper.dataset
    surf = mesh if isinstance(mesh, pv.PolyData) else mesh.extract_surface(algorithm=None)
    colour = pv.Color(actor.prop.color).hex_rgb
    out: list[Any] = []
    if surf.n_lines:
        lines = surf.lines.reshape(-1, 3)[:, 1:] if surf.n_lines else np.empty((0, 2), int)
        seg = np.full((len(lines) * 3, 3), np.nan)
        seg[0::3], seg[1::3] = surf.points[lines[:, 0]], surf.points[lines[:, 1]]
        out.append(
            go.Scatter3d(
                x=seg[:, 0],
                y=seg[:, 1],
                z=seg[:, 2],
                mode="lines",
                line={"color": colour, "width": 2},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    tri = surf.triangulate()
    if not tri.n_cells:
        return out
    faces = tri.faces.reshape(-1, 4)[:, 1:]
    kwargs: dict[str, Any] = {"color": colour}
    array = actor.mapper.array_name if actor.mapper.scalar_visibility else None
    if array and (array in tri.cell_data or array in tri.point_data):
        on_cells = array in tri.cell_data
        lo, hi = actor.mapper.scalar_range
        kwargs = {
            "intensity": np.asarray(tri.cell_data[array] if on_cells else tri.point_data[array]),
            "intensitymode": "cell" if on_cells else "vertex",
            "colorscale": _colorscale(actor.mapper.GetLookupTable()),
            "cmin": lo,
            "cmax": hi,
            "showscale": False,
        }
        table = actor.mapper.GetLookupTable()
        if table.GetNumberOfAnnotatedValues():  # the scene's colour bar, in data units
            kwargs.update(showscale=True, colorbar=_mesh_bar(table, lo, hi, domain))
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


def _scene_layout(renderer: Any, record: Panel, zoom: float = 1.0) -> dict[str, Any]:
    """``zoom`` > 1 moves the eye back (narrow side-by-side panels would crop the volume)."""
    cam = renderer.camera
    direction = np.subtract(cam.position, cam.focal_point)
    unit = direction / np.linalg.norm(direction)
    flat = abs(unit[2]) > 0.99  # looking straight at the maps (channel view)
    eye = unit * (1.2 if flat else 1.9) * zoom
    axes = {}
    for key, title, ticks in zip(
        ("xaxis", "yaxis", "zaxis"), record.axis_titles, record.ticks or [([], [])] * 3, strict=True
    ):
        axes[key] = {
            "title": {"text": title},
            "color": "white",
            "backgroundcolor": BACKGROUND,
            "showbackground": True,
            "gridcolor": "#3a3f49",
        }
        if ticks[0]:
            axes[key].update(tickvals=ticks[0], ticktext=ticks[1])
    return {
        "aspectmode": "data",
        "dragmode": "orbit",  # turntable would force z up; our maps read with z down
        "bgcolor": BACKGROUND,
        "camera": {
            "projection": {"type": "orthographic" if flat else "perspective"},
            "eye": dict(zip("xyz", map(float, eye), strict=True)),
            "up": dict(zip("xyz", map(float, cam.up), strict=True)),
        },
        **axes,
    }


def _wrap(title: str) -> str:
    """A panel title on at most two lines, broken at its last double space."""
    head, sep, tail = title.rpartition("  ")
    return f"{head}<br>{tail}" if sep else title


def _budget(plotter: pv.Plotter, max_points: int) -> int:
    sizes = [
        a.mapper.dataset.n_points
        for r in plotter.renderers
        for a in r.actors.values()
        if isinstance(a, pv.Volume)
    ]
    total, f = sum(sizes), 1
    while total > max_points and f < 64:
        f += 1
        total = sum(
            math.prod(-(-n // g) for n, g in zip(s, _factors(s, f), strict=True))
            for s in _shapes(plotter)
        )
    return f


def _shapes(plotter: pv.Plotter) -> list[tuple[int, int, int]]:
    return [
        tuple(a.mapper.dataset.dimensions[::-1])
        for r in plotter.renderers
        for a in r.actors.values()
        if isinstance(a, pv.Volume)
    ]


def plotter_to_figure(plotter: pv.Plotter, *, max_points: int = HTML_MAX_POINTS) -> Any:
    """Redraw ``plotter``'s subplots as a plotly figure (see module docstring)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = plotter.__dict__.get("volviz_panels", {})
    records = [panels.get(i, Panel()) for i in range(len(plotter.renderers))]
    n = len(records)
    fig = make_subplots(
        rows=1,
        cols=n,
        specs=[[{"type": "scene"}] * n],
        # Titles wrap at their double spaces: side by side they would overlap.
        subplot_titles=[_wrap(r.title) for r in records] if n > 1 else None,
        horizontal_spacing=0.02,
    )
    for annotation in fig.layout.annotations:
        annotation.font = {"size": 12}
    f = _budget(plotter, max_points)
    first = True
    for i, (renderer, record) in enumerate(zip(plotter.renderers, records, strict=True)):
        domain = fig.layout[f"scene{i + 1 if i else ''}"].domain.x
        for actor in renderer.actors.values():
            if isinstance(actor, pv.Volume):
                fig.add_trace(_volume_trace(actor, f, first, domain), row=1, col=i + 1)
                first = False
            elif isinstance(actor, pv.Actor) and getattr(actor.mapper, "dataset", None):
                for trace in _mesh_traces(actor, domain):
                    fig.add_trace(trace, row=1, col=i + 1)
        if record.labels:
            xyz = np.array([p for p, _ in record.labels])
            fig.add_trace(
                go.Scatter3d(
                    x=xyz[:, 0],
                    y=xyz[:, 1],
                    z=xyz[:, 2],
                    mode="text",
                    text=[t.replace("\n", "<br>") for _, t in record.labels],
                    textfont={"color": "white", "size": 10},
                    showlegend=False,
                    hoverinfo="skip",
                ),
                row=1,
                col=i + 1,
            )
        layout = _scene_layout(renderer, record, zoom=1.0 if n == 1 else 1.35)
        # The scene above its colour bar and the footnote, below the (two-line) titles.
        domain = {"x": list(fig.layout[f"scene{i + 1 if i else ''}"].domain.x), "y": [0.2, 0.9]}
        fig.update_layout({f"scene{i + 1 if i else ''}": {**layout, "domain": domain}})
    notes = [r.note for r in records if r.note]
    if f > 1:
        notes.append(f"HTML: volumes max-pooled by up to {f} per axis")
    fig.update_layout(
        title={"text": records[0].title if n == 1 else ""},
        paper_bgcolor=BACKGROUND,
        font={"color": "white"},
        margin={"l": 0, "r": 0, "t": 40 if n == 1 else 60, "b": 30},
        height=560,  # room for the scene, its colour bar and the footnote
        showlegend=False,
        annotations=[
            *fig.layout.annotations,
            {
                "text": " | ".join(dict.fromkeys(notes)),
                "x": 0,
                "y": 0,
                "xref": "paper",
                "yref": "paper",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
                "font": {"size": 11},
            },
        ],
    )
    return fig


def write_html(
    plotter: pv.Plotter, path: str | os.PathLike[str], *, max_points: int = HTML_MAX_POINTS
) -> Path:
    """Write ``plotter``'s scene as one offline HTML page (plotly.js inside), then close it."""
    try:
        fig = plotter_to_figure(plotter, max_points=max_points)
        return _save(fig, path, post_script=LINK_CAMERAS_JS)
    finally:
        plotter.close()


def _save(fig: Any, path: str | os.PathLike[str], **options: Any) -> Path:
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


def time_figure(scene: TimeScene, *, indices: Sequence[int] | None = None) -> Any:
    """A plotly figure of a ``TimeScene`` with one animation frame per record and a slider.

    Every frame holds only the volume's values (bytes, on the first frame's points); the
    title follows the slider. Volumes are max-pooled so that all frames together stay under
    ``HTML_TIME_MAX_POINTS`` samples (and each under ``HTML_MAX_POINTS``).
    """
    import plotly.graph_objects as go

    picks = list(range(len(scene))) if indices is None else [int(t) for t in indices]
    budget = max(min(HTML_MAX_POINTS, HTML_TIME_MAX_POINTS // max(len(picks), 1)), 1000)
    actor = next(a for a in scene.plotter.renderer.actors.values() if isinstance(a, pv.Volume))
    f = _budget(scene.plotter, budget)
    values = []
    for t in picks:
        scene.show(t)
        values.append(_volume_trace(actor, f, True, (0.0, 1.0)).value)
    # The page opens on the newest record (the trained state); play runs from the first.
    scene.show(picks[-1])
    fig = plotter_to_figure(scene.plotter, max_points=budget)
    trace = next(i for i, d in enumerate(fig.data) if d.type == "volume")
    titles = [scene.title(t).replace("\n", "<br>") for t in picks]
    fig.frames = [
        go.Frame(
            name=str(k), data=[go.Volume(value=v)], traces=[trace], layout={"title": {"text": s}}
        )
        for k, (v, s) in enumerate(zip(values, titles, strict=True))
    ]
    labels = [str(int(scene.series.steps[t])) for t in picks]
    fig.update_layout(
        title={"text": titles[-1]},
        margin={"t": 60, "b": 10},
        sliders=[_slider(labels)],
        updatemenus=[_play_buttons()],
    )
    fig.update_scenes(domain={"y": [0.16, 1.0]})  # room for the slider below the scene
    return fig


def _animate_args(names: list[Any] | None, duration: int) -> list[Any]:
    return [
        names,
        {
            "mode": "immediate",
            "frame": {"duration": duration, "redraw": True},
            "transition": {"duration": 0},
        },
    ]


def _slider(labels: list[str]) -> dict[str, Any]:
    return {
        "active": len(labels) - 1,
        "currentvalue": {"prefix": "step ", "font": {"color": "white"}},
        "pad": {"t": 10, "b": 10},
        "x": 0.12,
        "len": 0.86,
        "y": 0.04,
        "yanchor": "bottom",
        "font": {"color": "white"},
        "steps": [
            {"method": "animate", "label": lab, "args": _animate_args([str(k)], 0)}
            for k, lab in enumerate(labels)
        ],
    }


def _play_buttons() -> dict[str, Any]:
    return {
        "type": "buttons",
        "showactive": False,
        "direction": "left",
        "x": 0.0,
        "y": 0.04,
        "xanchor": "left",
        "yanchor": "bottom",
        "pad": {"t": 10, "b": 10},
        "bgcolor": "#3a3f49",
        "font": {"color": "white"},
        "buttons": [
            {"label": "play", "method": "animate", "args": _animate_args(None, 500)},
            {"label": "pause", "method": "animate", "args": _animate_args([None], 0)},
        ],
    }


def write_time_html(
    scene: TimeScene, path: str | os.PathLike[str], *, indices: Sequence[int] | None = None
) -> Path:
    """Write ``time_figure(scene)`` as one offline HTML page (plotly.js inside), then close."""
    try:
        return _save(time_figure(scene, indices=indices), path, auto_play=False)
    finally:
        scene.close()
