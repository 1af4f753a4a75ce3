"""Scenes of a store built in one place: ``volviz render`` (PNG, GIF/MP4, HTML), ``volviz
serve`` and ``volviz.show`` (``volviz view`` draws the volume panel of the same model).

A :class:`SceneSpec` names what to show (scene kind, layers, images, ordering, planes ...);
:func:`load_panels` reads the volumes it needs from an open store (one volume per panel);
:func:`describe` turns spec + panels + :class:`~volviz.render.model.Style` into the
backend-neutral :class:`~volviz.render.model.Scene` with the builders of
:mod:`volviz.render.volume`, :mod:`~volviz.render.scenes`, :mod:`~volviz.render.stack` and
:mod:`~volviz.render.compare`. :func:`build` draws it with PyVista
(:func:`volviz.render.draw.draw`), :func:`volviz.render.html.write_html` with plotly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv

from volviz.errors import MISSING, InputError
from volviz.render.model import Scene, Style, View
from volviz.render.ordered import ChannelOrder

SCENES = ("volume", "threshold", "isosurface", "slices", "channel", "stack", "compare")


@dataclass(frozen=True)
class SceneSpec:
    """What a scene shows; the fields mirror ``volviz render``'s options."""

    scene: str = "volume"
    layers: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    ordering: str | None = None
    npys: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    reduce: str = "sum"
    level: float | None = None
    percentile: float | None = None
    channel: int | None = None
    row: int | None = None
    column: int | None = None
    gap: int = 0
    bands: bool = False
    difference: bool = False
    columns: int | None = None
    channel_scale: str = "sqrt"


@dataclass
class Panel:
    """One volume of a scene with its title and optional channel order."""

    volume: np.ndarray
    title: str
    order: ChannelOrder | None = None


def title(name: str, volume: np.ndarray) -> str:
    """``name`` followed by the volume's shape (``conv1  12x20x32``)."""
    return f"{name}  {'x'.join(map(str, volume.shape))}"


def load_panels(store: Any, spec: SceneSpec) -> list[Panel]:
    """The volumes ``spec`` shows (``--npy`` files, ``--dataset`` paths or layer x image).

    ``store`` is an open :class:`volviz.store.Store` or ``None`` (``--npy`` only).
    """
    from volviz.render.weights import load_npy

    out: list[Panel] = []
    first = spec.images[0] if spec.images else None
    image_index = int(first) if first is not None and first.isdigit() else None
    for path in spec.npys:
        vol = load_npy(path, reduce=spec.reduce, index=image_index)
        out.append(Panel(vol, title(Path(path).name, vol)))
    if store is None:
        if not out:
            msg = "nothing to show: give {store} (a volviz store) or {npys}"
            raise InputError(msg, refs={"store": MISSING, "npys": MISSING})
        return out
    from volviz.render.load import dataset_volume, read_ordering

    for path in spec.datasets:
        index = store.image_index(first) if first is not None else None
        vol = dataset_volume(store, path, image=index, reduce=spec.reduce)
        out.append(Panel(vol, title(path, vol)))
    if spec.npys or spec.datasets:
        return out
    if not spec.layers:
        msg = "needs at least one layer ({layers})"
        raise InputError(msg, param="scene", value=spec.scene, refs={"layers": MISSING})
    order = read_ordering(store, spec.layers[0], spec.ordering) if spec.ordering else None
    for layer in spec.layers:
        for image in spec.images or ("0",):
            index = store.image_index(image)
            vol = store.volume(layer, index)
            name = store.inputs[index]["name"]
            out.append(Panel(vol, title(f"{layer}  image {index} ({name})", vol), order))
    if spec.scene == "compare" and len(out) == 1 and order is not None:
        first_panel = out[0]
        return [
            Panel(first_panel.volume, first_panel.title),
            Panel(first_panel.volume, f"ordered: {order.name}", order),
        ]
    return out


def stack_layers(store: Any, spec: SceneSpec) -> tuple[str, list[tuple[str, np.ndarray]]]:
    """``stack``: the title and (layer, volume) of every listed (default: conv) layer."""
    from volviz.render.load import conv_layers

    if store is None:
        msg = "needs a volviz store ({store})"
        raise InputError(msg, param="scene", value=spec.scene, refs={"store": MISSING})
    index = store.image_index(spec.images[0] if spec.images else "0")
    layers = list(spec.layers) or conv_layers(store)
    text = f"image {index} ({store.inputs[index]['name']})"
    return text, [(layer, store.volume(layer, index)) for layer in layers]


def scene_model(store: Any, spec: SceneSpec, style: Style) -> Scene:
    """Read what ``spec`` needs from ``store`` and describe its scene (see :func:`describe`)."""
    if spec.scene == "stack":
        text, layers = stack_layers(store, spec)
        return describe(spec, style, [], stack=layers, stack_title=text)
    return describe(spec, style, load_panels(store, spec))


def build(
    spec: SceneSpec,
    style: Style,
    panels: list[Panel],
    *,
    stack: list[tuple[str, np.ndarray]] | None = None,
    stack_title: str = "",
    plotter: pv.Plotter | None = None,
) -> pv.Plotter:
    """The Plotter of ``spec.scene`` over already loaded ``panels`` (see :func:`describe`).

    ``plotter``: draw into this Plotter (its render window kept, its scene replaced once the
    new one is described: a scene that cannot be described leaves it as it was).
    """
    from volviz.render.draw import draw
    from volviz.render.stack import stack_plotter

    if spec.scene == "stack":  # with the stand-in volume drawn while the camera moves
        options = _stack_options(spec, style, stack_title)
        return stack_plotter(stack or [], plotter=plotter, **options)
    return draw(describe(spec, style, panels), style, plotter=plotter)


def _stack_options(spec: SceneSpec, style: Style, stack_title: str) -> dict[str, Any]:
    return {
        "title": stack_title,
        "style": style,
        "columns": spec.columns,
        "channel_scale": spec.channel_scale,
    }


def describe(
    spec: SceneSpec,
    style: Style,
    panels: list[Panel],
    *,
    stack: list[tuple[str, np.ndarray]] | None = None,
    stack_title: str = "",
) -> Scene:
    """The scene of ``spec.scene`` over already loaded ``panels`` (``stack``: layers)."""
    from volviz.render import compare
    from volviz.render.stack import stack_view

    if spec.scene == "stack":
        return Scene([stack_view(stack or [], **_stack_options(spec, style, stack_title))])
    if spec.scene == "compare":
        return compare.compare_scene(
            [p.volume for p in panels],
            [p.title for p in panels],
            style=style,
            orders=[p.order for p in panels],
            difference=spec.difference,
        )
    if len(panels) != 1:
        msg = f"shows one volume, not {len(panels)}; use {{scene}} for more"
        raise InputError(msg, param="scene", value=spec.scene, refs={"scene": "compare"})
    return Scene([_one_view(spec, style, panels[0])])


def _one_view(spec: SceneSpec, style: Style, one: Panel) -> View:
    """The panel of a one-volume scene (volume, threshold, isosurface, slices, channel)."""
    from volviz.render import scenes, volume

    scene = spec.scene
    common: dict[str, Any] = {"title": one.title, "style": style, "order": one.order}
    ordered: dict[str, Any] = {"gap": spec.gap, "bands": spec.bands}
    if scene == "volume":
        return volume.volume_view(one.volume, **common, **ordered)
    if scene in ("threshold", "isosurface"):
        return scenes.threshold_view(
            one.volume,
            level=spec.level,
            percentile=spec.percentile,
            smooth=scene == "isosurface",
            **common,
            **ordered,
        )
    if scene == "slices":
        planes: dict[str, Any] = {"channel": spec.channel, "row": spec.row, "column": spec.column}
        return scenes.slices_view(one.volume, **planes, **common, **ordered)
    if spec.channel is None:
        msg = "needs {channel} (an original channel index)"
        raise InputError(msg, param="scene", value=scene, refs={"channel": MISSING})
    return scenes.channel_view(one.volume, spec.channel, **common)
