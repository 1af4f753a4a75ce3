"""The trame web app of ``volviz serve`` and ``volviz.show``: widgets wired to a Session.

The scene is rendered by VTK on the server (``VtkRemoteView``: the same renderer and scene
as the window and the PNGs, volumes included) and streamed to the page as images. The page
has one Plotter (one render window, one GL context) for its lifetime: a scene change draws
the new scene into it with :func:`volviz.render.build.build` (``plotter=``), so the view keeps
its id (trame-vtk's client ignores a new view id until the first view's first full-size frame
has arrived: a switch in the page's first seconds used to leave it asking for a closed window)
and no GL context is created per change. The threshold and opacity sliders only change the
volume's opacity curve.
A left click picks the voxel under the mouse.

As in the window, the camera's and the sliders' frames are drawn fast (coarse ray casting, the
stack's one-volume stand-in) while they move, and a full-quality frame follows once they stop
(the end of a drag; a slider left alone for ``SETTLE_S``).
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from volviz.render.transfer import PRESETS
from volviz.render.viewer import describe_pick
from volviz.serve.frames import prompt_delivery, running_loop, sampling
from volviz.serve.session import PICKABLE, Session

CMAPS = ("inferno", "viridis", "magma", "plasma", "cividis", "gray", "coolwarm", "RdBu_r")
NORMALIZE = ("percentile", "minmax", "channel", "symmetric")
SCENES = ("volume", "threshold", "isosurface", "slices", "stack", "compare")
REBUILD = (
    "layer",
    "image",
    "scene",
    "cmap",
    "preset",
    "normalize",
    "ordering",
    "percentile",
    "channel",
    "row",
    "column",
    "compare_image",
    "step",
)
SETTLE_S = 0.25  # a slider left this long at one value gets the full-quality frame
STILL_QUALITY = 95  # JPEG quality of the page's still frames


def png_data_url(image: np.ndarray, *, scale: int = 4) -> str:
    """A (H, W) map as a ``data:image/png`` URL (inferno, each pixel ``scale`` px)."""
    from matplotlib import colormaps
    from PIL import Image

    lo, hi = float(np.min(image)), float(np.max(image))
    shown = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    rgb = (colormaps["inferno"](shown)[..., :3] * 255).astype(np.uint8)
    picture = Image.fromarray(rgb).resize(
        (image.shape[1] * scale, image.shape[0] * scale), Image.Resampling.NEAREST
    )
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def attach_interactor(plotter: Any) -> Any:
    """The remote view drives the server's interactor: give the off-screen window one."""
    from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
    from vtkmodules.vtkRenderingCore import vtkRenderWindowInteractor

    window = plotter.ren_win
    interactor = vtkRenderWindowInteractor()
    interactor.SetRenderWindow(window)
    interactor.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
    interactor.EnableRenderOff()
    return interactor


class App:
    """One trame server showing one Session (``server``: a trame server, not started)."""

    def __init__(self, session: Session, server: Any, *, title: str = "volviz") -> None:
        self.session = session
        self.server = server
        self.state = server.state
        self.plotter: Any = None
        self.view: Any = None
        self._title = title
        self.follow_requested = session.follow
        self.camera_moving = False
        self._settle: Any = None  # the pending full-quality frame after a slider change
        self._init_state()
        self._draw()
        self._build_ui()
        prompt_delivery(server, STILL_QUALITY)
        self.state.change(*REBUILD)(self._on_rebuild)
        self.state.change("threshold", "opacity")(self._on_opacity)

    # ------------------------------------------------------------------ state
    def _init_state(self) -> None:
        s, c = self.session, self.session.choices
        st = self.state
        st.trame__title = self._title
        st.layers = s.layers
        st.images = [{"title": f"{i}: {n}", "value": i} for i, n in enumerate(s.image_names)]
        for key in (*REBUILD, "threshold", "opacity"):
            st[key] = getattr(c, key)
        st.has_time = s.time is not None
        st.n_steps = s.time.n_steps if s.time is not None else 1
        st.pick_text = "left click on a voxel to identify it"
        st.pick_map = ""
        st.top_images = []
        st.error = ""
        self._sync_lists()

    def _sync_lists(self) -> None:
        s, st = self.session, self.state
        st.orderings = [{"title": "original order", "value": ""}] + [
            {"title": n, "value": n} for n in s.orderings()
        ]
        if st.ordering and st.ordering not in s.orderings():
            st.ordering = s.choices.ordering = ""
        c, h, w = s.store.activations(s.choices.layer).shape[1:]
        st.n_channels, st.n_rows, st.n_cols = int(c), int(h), int(w)
        for key, n in (("channel", c), ("row", h), ("column", w)):  # planes stay inside
            st[key] = min(int(st[key] or 0), int(n) - 1)
            setattr(s.choices, key, st[key])

    def _status(self) -> str:
        s, c = self.session, self.session.choices
        shape = "x".join(map(str, s.store.activations(c.layer).shape[1:]))
        how = f"ordered by {c.ordering}" if c.ordering else "original order"
        line = f"{c.layer}, image {c.image} ({s.image_names[c.image]}), {shape}, {how}"
        if s.time is not None:
            n = s.time.n_steps
            follow = ", following" if s.follow else ""
            line += f", {s.time.label(c.step)}, record {c.step + 1}/{n}{follow}"
        return line

    # ------------------------------------------------------------------ scene
    def _draw(self) -> None:
        """Draw the current scene into the page's Plotter (the first call makes it)."""
        if self.plotter is not None:
            self.session.plotter(into=self.plotter)
        else:
            self.plotter = self.session.plotter()
            interactor = attach_interactor(self.plotter)
            interactor.AddObserver("LeftButtonPressEvent", self._on_press)
            # as the window does: coarser ray casting while the camera moves, full when it stops
            interactor.AddObserver("StartInteractionEvent", lambda *_: self._camera(True))
            interactor.AddObserver("EndInteractionEvent", lambda *_: self._camera(False))
        self.state.status = self._status()
        self.state.step = self.session.choices.step  # -1 (newest) becomes its index

    def _on_rebuild(self, force: bool = False, **changes: Any) -> None:
        s = self.session
        layer_changed = changes.get("layer") != s.choices.layer
        choices = {k: changes.get(k, getattr(s.choices, k)) for k in REBUILD}
        for key in ("channel", "row", "column", "image", "compare_image", "step"):
            choices[key] = int(choices[key])
        choices["percentile"] = float(choices["percentile"])
        if not force and all(v == getattr(s.choices, k) for k, v in choices.items()):
            return
        moved = choices["step"] != s.choices.step
        s.replace(**choices)
        if s.time is not None and self.follow_requested and moved:
            # picking an older record stops following; the newest one resumes it
            s.follow = s.choices.step >= s.time.n_steps - 1
        if layer_changed:
            self._sync_lists()
            s.choices.ordering = self.state.ordering
        self._cancel_settle()
        try:
            self._draw()
        except Exception as exc:  # a bad combination shows on the page, the server lives on
            self.state.error = str(exc)
            return
        self.state.error = ""
        if self.view is not None:
            self.view.update()

    def _camera(self, moving: bool) -> None:
        self.camera_moving = moving
        sampling(self.plotter, moving)

    def _on_opacity(self, threshold: float, opacity: float, **_: Any) -> None:
        """Sliders: a fast frame now, the full-quality one when the slider rests."""
        self.session.replace(threshold=float(threshold), opacity=float(opacity))
        if not self.session.apply_opacity(self.plotter) or self.view is None:
            return
        loop = running_loop()
        if loop is None:  # no page to stream to: the scene stays at full quality
            return
        self._cancel_settle()
        sampling(self.plotter, True)
        self.view.update()
        self._settle = loop.call_later(SETTLE_S, self.settle)

    def settle(self) -> None:
        """The full-quality frame after slider changes (unless the camera is moving: the
        drag's end draws it)."""
        self._settle = None
        if self.camera_moving:
            return
        sampling(self.plotter, False)
        if self.view is not None:
            self.view.update()

    def _cancel_settle(self) -> None:
        if self._settle is not None:
            self._settle.cancel()
            self._settle = None

    def poll(self) -> None:
        """``--follow``: rebuild when the run has new records (shows the newest)."""
        s = self.session
        if s.poll():
            with self.state:
                self.state.n_steps = s.time.n_steps
                if s.follow:
                    self.state.step = s.time.n_steps - 1
                    self._on_rebuild(force=True, **{k: self.state[k] for k in REBUILD})

    # ------------------------------------------------------------------ picking
    def _on_press(self, interactor: Any, _event: str) -> None:
        # The remote view forwards presses but no releases: a press picks (and may start
        # a rotation).
        with self.state:
            self.pick_at(*interactor.GetEventPosition())

    def pick_at(self, x: int, y: int) -> dict[str, Any] | None:
        """Pick at display pixel (x, y) (origin bottom left) and fill the 2D panel."""
        from vtkmodules.vtkRenderingVolume import vtkVolumePicker

        s = self.session
        if s.choices.scene not in PICKABLE:
            self.state.pick_text = describe_pick(None)
            return None
        picker = vtkVolumePicker()
        picker.SetVolumeOpacityIsovalue(0.05)
        renderer = self.plotter.renderer
        info = None
        if picker.Pick(x, y, 0, renderer):
            point = np.asarray(picker.GetPickPosition())
            camera = np.asarray(renderer.GetActiveCamera().GetPosition())
            ray = (point - camera) / max(float(np.linalg.norm(point - camera)), 1e-12)
            if s.choices.scene == "volume":
                info = s.pick(tuple(point), ray)  # type: ignore[arg-type]
            else:  # a surface hit lies on a voxel's face: step a quarter voxel inside
                info = s.pick(tuple(point + ray * 0.25 * min(s.spacing)))  # type: ignore[arg-type]
        self.state.pick_text = describe_pick(info)
        self.state.pick = info
        if info is None:
            self.state.pick_map, self.state.top_images = "", []
            return None
        self.state.pick_map = png_data_url(s.feature_map(info["channel"]))
        self.state.top_images = [
            {
                "text": f"{t['name']}: value {t['value']:.4g} at row {t['row']}, "
                f"column {t['column']}",
                "src": png_data_url(t["map"], scale=2),
            }
            for t in s.top_images(info["channel"])
        ]
        return info

    # ------------------------------------------------------------------ page
    def _build_ui(self) -> None:
        from trame.ui.vuetify3 import VAppLayout
        from trame.widgets import html
        from trame.widgets import vtk as vtk_widgets
        from trame.widgets import vuetify3 as v3

        self.layout = VAppLayout(self.server, fill_height=True)
        with self.layout:
            with v3.VAppBar(density="compact"):
                v3.VToolbarTitle("{{ status }}", classes="text-body-1", id="status")
            with v3.VNavigationDrawer(permanent=True, width=300):
                self._controls(v3)
            with v3.VNavigationDrawer(permanent=True, width=280, location="right"):
                self._pick_panel(v3, html)
            with v3.VMain(), html.Div(style="height: 100%; position: relative;"):
                self.view = vtk_widgets.VtkRemoteView(
                    self.plotter.ren_win,
                    ref="view",
                    interactive_ratio=0.5,
                    interactive_quality=70,
                    still_quality=STILL_QUALITY,
                    style="position: absolute; inset: 0;",
                )
                html.Div("{{ error }}", v_if="error", id="error", classes="text-red pa-2")

    def _controls(self, v3: Any) -> None:
        dense = {"density": "compact", "hide_details": True, "classes": "ma-2"}
        v3.VAutocomplete(label="layer", v_model=("layer",), items=("layers",), **dense)
        v3.VAutocomplete(label="image", v_model=("image",), items=("images",), **dense)
        v3.VSelect(label="scene", v_model=("scene",), items=(list(SCENES),), **dense)
        v3.VSelect(label="ordering", v_model=("ordering",), items=("orderings",), **dense)
        v3.VSelect(label="colour map", v_model=("cmap",), items=(list(CMAPS),), **dense)
        v3.VSelect(label="opacity preset", v_model=("preset",), items=(list(PRESETS),), **dense)
        v3.VSelect(
            label="display scaling", v_model=("normalize",), items=(list(NORMALIZE),), **dense
        )
        slider = {
            "density": "compact",
            "hide_details": True,
            "thumb_label": True,
            "classes": "mx-2 mt-4",
        }
        v3.VSlider(
            label="threshold",
            v_model=("threshold",),
            min=0,
            max=1,
            step=0.01,
            v_if="scene == 'volume' || scene == 'stack'",
            id="threshold",
            **slider,
        )
        v3.VSlider(
            label="opacity",
            v_model=("opacity",),
            min=0,
            max=3,
            step=0.05,
            v_if="scene == 'volume' || scene == 'stack'",
            **slider,
        )
        v3.VSlider(
            label="percentile",
            v_model=("percentile",),
            min=0,
            max=100,
            step=0.5,
            v_if="scene == 'threshold' || scene == 'isosurface'",
            **slider,
        )
        for key, top in (("channel", "n_channels"), ("row", "n_rows"), ("column", "n_cols")):
            v3.VSlider(
                label=f"{key} plane",
                v_model=(key,),
                min=0,
                max=(f"{top} - 1",),
                step=1,
                v_if="scene == 'slices'",
                **slider,
            )
        v3.VAutocomplete(
            label="compare with image",
            v_model=("compare_image",),
            items=("images",),
            v_if="scene == 'compare' && !ordering",
            **dense,
        )
        v3.VSlider(
            label="step",
            v_model=("step",),
            min=0,
            max=("n_steps - 1",),
            step=1,
            v_if="has_time",
            id="step",
            **slider,
        )

    def _pick_panel(self, v3: Any, html: Any) -> None:
        html.Div("{{ pick_text }}", id="pick", classes="ma-2 text-body-2")
        html.Img(
            src=("pick_map",),
            v_if="pick_map",
            id="pick-map",
            classes="ma-2",
            style="max-width: 260px; image-rendering: pixelated;",
        )
        html.Div("top images (/analysis)", v_if="top_images.length", classes="ma-2 text-caption")
        with html.Div(v_for="(t, i) in top_images", key="i", classes="ma-2 top-image"):
            html.Div("{{ t.text }}", classes="text-caption")
            html.Img(src=("t.src",), style="max-width: 260px; image-rendering: pixelated;")
