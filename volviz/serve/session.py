"""What ``volviz serve`` and ``volviz.show`` show, as plain state over an open store.

:class:`Session` holds the choices of the page (layer, image, scene, colours, ordering,
threshold, opacity, slice planes, training step) and builds each scene with the same
:func:`volviz.render.build.build` as ``volviz render``. It keeps one volume in memory (the
one shown) and knows how to answer a click: which original channel, row, column and raw
value sit under a world point, with that channel's map and, when the store has
``/analysis``, its top images. No trame here: the web app (:mod:`volviz.serve.app`) only
wires widgets to these methods.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyvista as pv

from volviz.errors import InputError
from volviz.render.build import Panel, SceneSpec, build, load_panels, stack_layers, title
from volviz.render.ordered import Arranged, arrange
from volviz.render.transfer import opacity_curve
from volviz.render.volume import Style, set_opacity
from volviz.store.views import auto_spacing

# Scenes a click can be answered in (one volume, one panel).
PICKABLE = ("volume", "threshold", "isosurface", "slices")


@dataclass
class Choices:
    """The page's controls; every field maps onto one widget."""

    layer: str
    image: int = 0
    scene: str = "volume"
    cmap: str = "inferno"
    preset: str = "ramp"
    normalize: str = "percentile"
    ordering: str = ""  # "" = original channel order
    threshold: float = 0.0  # volume: display values below are transparent (0..1)
    opacity: float = 1.0  # volume: opacity scale
    percentile: float = 95.0  # threshold/isosurface
    channel: int = 0  # slices: original channel of the channel plane
    row: int = 0
    column: int = 0
    compare_image: int = 1
    step: int = -1  # training runs: record index (-1 = newest)


@dataclass
class Session:
    """An open store and what the page shows of it (see module docstring)."""

    store: Any
    choices: Choices
    window_size: tuple[int, int] = (800, 600)
    time: Any = None  # a TimelineSource for tracked runs
    follow: bool = False
    panel: Panel | None = None
    arranged: Arranged | None = None
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)

    # ------------------------------------------------------------------ lists
    @property
    def layers(self) -> list[str]:
        return list(self.store.layers)

    @property
    def image_names(self) -> list[str]:
        return [row["name"] for row in self.store.inputs]

    def orderings(self) -> list[str]:
        """Stored orderings of the current layer."""
        return list(self.store.orderings(self.choices.layer))

    def style(self) -> Style:
        c = self.choices
        return Style(
            normalization=c.normalize,
            cmap=c.cmap,
            preset=c.preset,
            opacity_scale=c.opacity,
            window_size=self.window_size,
        )

    # ------------------------------------------------------------------ scene
    def spec(self) -> SceneSpec:
        c = self.choices
        images: tuple[str, ...] = (str(c.image),)
        if c.scene == "compare" and not c.ordering:
            images = (str(c.image), str(c.compare_image % self.store.n_images))
        planes: dict[str, Any] = {"channel": c.channel, "row": c.row, "column": c.column}
        if c.scene not in ("slices", "channel"):
            planes = {"channel": None, "row": None, "column": None}
        return SceneSpec(
            scene=c.scene,
            layers=() if c.scene == "stack" else (c.layer,),  # the stack: every conv layer
            images=images,
            ordering=c.ordering or None,
            percentile=c.percentile,
            **planes,
        )

    def panels(self, spec: SceneSpec) -> list[Panel]:
        """The volumes of the scene: from the store, or the chosen record of a run."""
        if self.time is None:
            return load_panels(self.store, spec)
        from volviz.render.load import read_ordering

        n = self.time.n_steps
        c = self.choices
        step = n - 1 if self.follow or c.step < 0 else min(c.step, n - 1)
        c.step = step
        order = read_ordering(self.store, c.layer, c.ordering) if c.ordering else None
        vol = self.time.volume(c.layer, c.image, step)
        text = f"{c.layer}  image {c.image}  {self.time.label(step)}"
        return [Panel(vol, title(text, vol), order)]

    def plotter(self, into: pv.Plotter | None = None) -> pv.Plotter:
        """Build the current scene (reads one volume; the stack reads one per layer).

        ``into``: the Plotter to draw it into (the served page keeps one render window for
        its lifetime), else a new one.
        """
        spec = self.spec()
        style = self.style()
        if spec.scene == "stack":
            text, layers = stack_layers(self.store, spec)
            self.panel = self.arranged = None
            return build(spec, style, [], stack=layers, stack_title=text, plotter=into)
        panels = self.panels(spec)
        plotter = build(spec, style, panels, plotter=into)
        self.panel = panels[0] if spec.scene in PICKABLE else None
        if self.panel is not None:
            shown = np.zeros((self.panel.volume.shape[0], 1, 1), np.float32)
            self.arranged = arrange(shown, self.panel.order, gap=spec.gap)
            shape = (self.arranged.volume.shape[0], *self.panel.volume.shape[1:])
            self.spacing = style.spacing or auto_spacing(shape)
        if spec.scene == "volume":
            self.apply_opacity(plotter)
        return plotter

    def opacity_curve(self) -> np.ndarray:
        c = self.choices
        return opacity_curve(c.preset, scale=c.opacity, floor=c.threshold)

    def apply_opacity(self, plotter: pv.Plotter) -> bool:
        """Threshold / opacity sliders: change the volume's opacity in place (no rebuild)."""
        actors = [a for r in plotter.renderers for a in r.actors.values()]
        volumes = [a for a in actors if isinstance(a, pv.Volume)]
        curve = self.opacity_curve()
        for actor in volumes:
            set_opacity(actor, curve)
        return bool(volumes)

    # ------------------------------------------------------------------ picking
    def pick(
        self, point: tuple[float, float, float], ray: np.ndarray | None = None
    ) -> dict[str, Any] | None:
        """What lies under world ``point`` of the current scene (``None``: nothing there).

        ``ray`` (unit view direction): a volume's opacity surface lies up to a voxel before
        the voxel that makes it, so the strongest voxel within 1.5 voxels along the ray is
        taken.

        Returns
        -------
        dict with ``layer``, ``image``, ``channel`` (original index), ``position`` (shown
        slice), ``row``, ``column`` and ``value`` (raw, as stored).
        """
        if self.panel is None or self.arranged is None:
            return None
        found = self._voxel(np.asarray(point, float))
        if ray is not None:
            step = min(self.spacing)
            hits = [self._voxel(np.asarray(point) + ray * t * step) for t in np.arange(0, 1.6, 0.1)]
            hits = [h for h in hits if h is not None]
            if hits:
                found = max(hits, key=lambda h: abs(float(self.panel.volume[h])))  # type: ignore[union-attr]
        if found is None:
            return None
        channel, y, x = found
        c = self.choices
        return {
            "layer": c.layer,
            "image": self.image_names[c.image],
            "channel": channel,
            "position": self.arranged.slice_of(channel),
            "row": y,
            "column": x,
            "value": float(self.panel.volume[channel, y, x]),
        }

    def _voxel(self, point: np.ndarray) -> tuple[int, int, int] | None:
        """(original channel, row, column) of the voxel nearest world ``point``, if any."""
        assert self.panel is not None and self.arranged is not None
        dz, dy, dx = self.spacing
        x, y, z = (int(v) for v in np.rint(point / np.array([dx, dy, dz])))
        channel = self.arranged.original_channel(z)
        _, h, w = self.panel.volume.shape
        if channel is None or not (0 <= y < h and 0 <= x < w):
            return None
        return channel, y, x

    def feature_map(self, channel: int) -> np.ndarray:
        """The picked channel's (H, W) map for the current image (raw values)."""
        if self.panel is None:
            raise InputError("nothing picked: pick in a volume, threshold or slices scene")
        return np.asarray(self.panel.volume[channel])

    def top_images(self, channel: int) -> list[dict[str, Any]]:
        """From ``/analysis``: the images that drive ``channel`` of the layer most, best first.

        Each entry: ``image`` (index), ``name``, ``row``, ``column``, ``value`` and ``map``
        (that image's (H, W) map of the channel, read alone).
        """
        from volviz.store.analysis import analyzed_layers, load_stats

        layer = self.choices.layer
        if layer not in analyzed_layers(self.store):
            return []
        stats = load_stats(self.store, layer)
        ds = self.store.activations(layer)
        names = self.image_names
        out = []
        for k, index in enumerate(stats.top_image[channel]):
            i = int(index)
            out.append(
                {
                    "image": i,
                    "name": names[i],
                    "row": int(stats.top_row[channel, k]),
                    "column": int(stats.top_col[channel, k]),
                    "value": float(stats.top_value[channel, k]),
                    "map": np.asarray(ds[i, channel], np.float32),
                }
            )
        return out

    # ------------------------------------------------------------------ runs
    def poll(self) -> bool:
        """``--follow``: whether new records arrived (the scene then needs a rebuild)."""
        if self.time is None:
            return False
        seen = self.time.n_steps
        return bool(self.time.refresh() != seen)

    def replace(self, **changes: Any) -> None:
        """Set choices; unknown names raise ``InputError``."""
        names = {f.name for f in dataclasses.fields(Choices)}
        for key, value in changes.items():
            if key not in names:
                msg = f"unknown choice {key!r}"
                raise InputError(msg)
            setattr(self.choices, key, value)


def check_choices(session: Session, layer: str | None, image: str) -> Choices:
    """Validate ``--layer`` / ``--image`` against the store (one ``Error:`` line each)."""
    store = session.store
    name = store.layer_group(layer).name.split("/")[-1] if layer else store.layers[0]
    return Choices(layer=name, image=store.image_index(image))
