"""The interactive viewer behind ``volviz view``.

All behaviour lives in plain functions over a :class:`ViewerState` (tested without a
window); :func:`build_viewer` only wires them to VTK widgets, keys and mouse events:

- threshold slider: display values below it are transparent;
- opacity slider: scales the opacity curve;
- slice-plane widget: a plane of display values through the volume;
- Right / Left: next / previous image; Up / Down: next / previous layer;
- o: original vs stored ordering of the channels;
- right click: reports layer, original channel, row, column and raw value;
- for a training run (``volviz.track``): a step slider and ] / [ for the next / previous
  record, one display range over all records; with ``follow`` a timer polls the file and
  shows each new record as it arrives (unless another step was picked; the newest again
  resumes following).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyvista as pv

from volviz.render.annotate import map_camera
from volviz.render.model import View
from volviz.render.ordered import Arranged, ChannelOrder, arrange
from volviz.render.transfer import opacity_curve
from volviz.render.volume import (
    Style,
    apply_sampling,
    arranged_view,
    interactive_sampling,
    new_plotter,
    set_opacity,
    still_sampling,
)
from volviz.store.views import data_limits, display_range, normalize


class TimeSource(Protocol):
    """Records of a training run (``volviz.render.timeline.TimelineSource``)."""

    @property
    def n_steps(self) -> int: ...

    def refresh(self) -> int: ...

    def volume(self, layer: str, image: int, t: int) -> np.ndarray: ...

    def label(self, t: int) -> str: ...

    def limits(self, layer: str, image: int, method: str) -> tuple[Any, Any]: ...


@dataclass
class ViewerState:
    """What the viewer shows; ``refresh`` recomputes the derived fields."""

    layers: Sequence[str]
    image_names: Sequence[str]
    load: Callable[[str, int], np.ndarray]
    ordering_of: Callable[[str], ChannelOrder | None] = lambda layer: None
    layer_index: int = 0
    image_index: int = 0
    ordered: bool = False
    threshold: float = 0.0
    opacity: float = 1.0
    style: Style = field(default_factory=Style)
    raw: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 1), np.float32))
    arranged: Arranged | None = None
    order: ChannelOrder | None = None
    label: str = ""
    message: str = ""
    time: TimeSource | None = None
    time_index: int = -1
    follow: bool = False
    limits: tuple[Any, Any] | None = None
    limits_key: tuple[str, int, int] | None = None
    n_seen: int = 0

    @property
    def layer(self) -> str:
        return self.layers[self.layer_index]


def refresh(state: ViewerState) -> ViewerState:
    """Load the current layer and image, scale it for display, apply the ordering.

    With a ``time`` source: the record ``time_index`` (the newest while ``follow``), scaled
    by one range over all records of this layer and image.
    """
    state.order = state.ordering_of(state.layer)
    if state.order is None:
        state.ordered = False
    if state.time is None:
        state.raw = state.load(state.layer, state.image_index)
        method = state.style.normalization
        state.limits = display_range([state.raw], method)
        shown, label = normalize(state.raw, method, limits=state.limits)
        state.label = f"display: {label}"
    else:
        shown = _time_display(state, state.time)
    state.arranged = arrange(shown, state.order if state.ordered else None)
    return state


def _time_display(state: ViewerState, time: TimeSource) -> np.ndarray:
    from volviz.render.timeline import range_label, scale

    n = state.n_seen = time.n_steps
    state.time_index = n - 1 if state.follow else int(np.clip(state.time_index % n, 0, n - 1))
    state.raw = time.volume(state.layer, state.image_index, state.time_index)
    key = (state.layer, state.image_index, n)
    if state.limits_key != key:  # over all records of this layer and image, once per change
        state.limits = time.limits(state.layer, state.image_index, state.style.normalization)
        state.limits_key = key
    assert state.limits is not None
    lo, hi = state.limits
    state.label = range_label(state.style.normalization, lo, hi, n)
    fill = 0.5 if state.style.normalization == "symmetric" else 0.0
    return scale(state.raw, lo, hi, fill)


def status(state: ViewerState) -> str:
    """Title line: layer, image, shape and channel order."""
    c, h, w = state.raw.shape
    name = state.image_names[state.image_index]
    how = f"ordered by {state.order.name}" if state.ordered and state.order else "original order"
    line = (
        f"{state.layer} ({state.layer_index + 1}/{len(state.layers)})  image {state.image_index} "
        f"{name}  {c}x{h}x{w}  {how}"
    )
    if state.time is not None:
        t, n = state.time_index, state.time.n_steps
        line += f"\n{state.time.label(t)}  (record {t + 1}/{n}{', following' * state.follow})"
    return line


def set_time(state: ViewerState, index: int) -> str:
    """Step slider / keys: show record ``index`` (clamped); the newest one resumes following."""
    if state.time is None:
        state.message = "no training run in this file (write one with volviz.track)"
        return state.message
    n = state.time.n_steps
    state.time_index = int(np.clip(index, 0, n - 1))
    state.follow = state.time_index == n - 1
    refresh(state)
    return status(state)


def step_time(state: ViewerState, delta: int) -> str:
    """Move ``delta`` records on (no wrapping)."""
    return set_time(state, state.time_index + delta)


def poll(state: ViewerState) -> str | None:
    """Timer callback: pick up records appended to the file since the last call.

    Returns the new status line when new records arrived (shown when following), else
    ``None``.
    """
    if state.time is None:
        return None
    if state.time.refresh() == state.n_seen:
        return None
    refresh(state)
    return status(state)


def current_curve(state: ViewerState) -> np.ndarray:
    """Opacity curve for the current threshold and opacity scale, shape (256,)."""
    return opacity_curve(state.style.preset, scale=state.opacity, floor=state.threshold)


def set_threshold(state: ViewerState, value: float) -> np.ndarray:
    """Threshold slider: hide display values below ``value`` (0..1)."""
    state.threshold = float(np.clip(value, 0.0, 1.0))
    return current_curve(state)


def set_opacity_scale(state: ViewerState, value: float) -> np.ndarray:
    """Opacity slider: scale every opacity by ``value`` (>= 0)."""
    state.opacity = max(float(value), 0.0)
    return current_curve(state)


def step_image(state: ViewerState, delta: int) -> str:
    """Move ``delta`` images on (wrapping around); return the new status line."""
    state.image_index = (state.image_index + delta) % len(state.image_names)
    refresh(state)
    return status(state)


def step_layer(state: ViewerState, delta: int) -> str:
    """Move ``delta`` layers on in network order (wrapping around)."""
    state.layer_index = (state.layer_index + delta) % len(state.layers)
    refresh(state)
    return status(state)


def toggle_order(state: ViewerState) -> str:
    """Switch between original and stored channel order (if the layer has one)."""
    if state.order is None:
        state.message = f"no stored ordering for {state.layer}"
        return state.message
    state.ordered = not state.ordered
    refresh(state)
    state.message = status(state)
    return state.message


def world_to_voxel(grid: pv.ImageData, point: Sequence[float]) -> tuple[int, int, int]:
    """Nearest voxel (displayed slice, row, column) of a world ``point`` in ``grid``."""
    index = np.rint((np.asarray(point) - np.asarray(grid.origin)) / np.asarray(grid.spacing))
    x, y, z = (int(i) for i in index)
    return z, y, x


def pick(state: ViewerState, voxel: tuple[int, int, int]) -> dict[str, Any] | None:
    """What a click on displayed voxel (slice, row, column) shows, or None outside/in a gap.

    Returns
    -------
    dict with ``layer``, ``image``, ``channel`` (original index), ``position`` (displayed
    slice), ``row``, ``column`` and ``value`` (raw).
    """
    assert state.arranged is not None
    z, row, col = voxel
    _, h, w = state.raw.shape
    channel = state.arranged.original_channel(z)
    if channel is None or not (0 <= row < h and 0 <= col < w):
        return None
    return {
        "layer": state.layer,
        "image": state.image_names[state.image_index],
        "channel": channel,
        "position": z,
        "row": row,
        "column": col,
        "value": float(state.raw[channel, row, col]),
    }


def describe_pick(info: dict[str, Any] | None) -> str:
    """The line the window and the served page show for a pick (see :func:`pick`)."""
    if info is None:
        return "nothing picked (outside the volume, in a gap, or a multi-panel scene)"
    return (
        f"{info['layer']}, image {info['image']}: channel {info['channel']} "
        f"(slice {info['position']}), row {info['row']}, column {info['column']}, "
        f"value {info['value']:.6g}"
    )


def scene_view(state: ViewerState) -> View:
    """What the window shows of ``state``, in the scene model every backend draws: the
    volume with the sliders' opacity curve, the status line as title, the scaling as note
    and a colour bar in data units (as ``volviz render`` draws the same layer and image)."""
    assert state.arranged is not None
    limits = None if state.limits is None else data_limits(*state.limits)
    view = arranged_view(state.arranged, state.style, limits, status(state), state.label)
    view.volumes[0] = dataclasses.replace(view.volumes[0], opacity=current_curve(state))
    return view


def slice_plane(
    grid: pv.ImageData, normal: Sequence[float], origin: Sequence[float]
) -> pv.PolyData:
    """The slice-plane widget's plane through ``grid``."""
    return grid.slice(normal=tuple(normal), origin=tuple(origin))


def interaction_sampling(actor: pv.Volume, grid: pv.ImageData, moving: bool) -> None:
    """Coarser sampling while the camera moves, full quality when it stops."""
    apply_sampling(actor, interactive_sampling(grid) if moving else still_sampling(grid))


def window_title(state: ViewerState, prefix: str) -> str:
    """The window's name: ``prefix``, then the layer and image shown (kept current)."""
    return f"{prefix}: {state.layer} - image {state.image_names[state.image_index]}"


def build_viewer(
    state: ViewerState,
    *,
    off_screen: bool = False,
    poll_ms: int | None = None,
    title: str = "volviz view",
) -> pv.Plotter:
    """A Plotter wired to the functions above (``show()`` it).

    ``poll_ms``: with a ``time`` source, call :func:`poll` this often (following a live run).
    ``title``: the window name's prefix; the layer and image shown follow it.
    """
    style = dataclasses.replace(state.style, off_screen=off_screen)
    plotter = new_plotter(style)
    parts: dict[str, Any] = {}

    def draw() -> None:
        from volviz.render.draw import draw_view

        (parts["volume"],) = draw_view(plotter, scene_view(state), style, names=True, camera=False)
        parts["grid"] = parts["volume"].mapper.dataset
        plotter.title = window_title(state, title)
        if plotter.render_window is not None:
            plotter.render_window.SetWindowName(plotter.title)

    def redraw(line: str) -> None:
        draw()
        say(line)

    def say(line: str) -> None:
        plotter.add_text(line, position="lower_right", font_size=8, color="white", name="message")
        plotter.render()

    draw()
    map_camera(plotter)
    _wire_widgets(plotter, state, parts)
    for key, delta in (("Right", 1), ("Left", -1)):
        plotter.add_key_event(key, lambda d=delta: redraw(step_image(state, d)))
    for key, delta in (("Up", 1), ("Down", -1)):
        plotter.add_key_event(key, lambda d=delta: redraw(step_layer(state, d)))
    plotter.add_key_event("o", lambda: redraw(toggle_order(state)))
    if state.time is not None:
        _wire_time(plotter, state, redraw, poll_ms)
    _wire_picking_and_sampling(plotter, state, parts, say)
    return plotter


def _wire_widgets(plotter: pv.Plotter, state: ViewerState, parts: dict[str, Any]) -> None:
    """Threshold and opacity sliders (the volume's opacity curve) and the slice-plane widget."""
    curve = lambda f: lambda v: set_opacity(parts["volume"], f(state, v))  # noqa: E731
    plotter.add_slider_widget(
        curve(set_threshold),
        [0.0, 1.0],
        value=state.threshold,
        title="threshold",
        pointa=(0.03, 0.1),
        pointb=(0.3, 0.1),
        style="modern",
    )
    plotter.add_slider_widget(
        curve(set_opacity_scale),
        [0.0, 3.0],
        value=state.opacity,
        title="opacity",
        pointa=(0.35, 0.1),
        pointb=(0.62, 0.1),
        style="modern",
    )

    def on_plane(normal: Sequence[float], origin: Sequence[float]) -> None:
        plotter.add_mesh(
            slice_plane(parts["grid"], normal, origin),
            scalars="activation",
            cmap=state.style.cmap,
            clim=(0.0, 1.0),
            show_scalar_bar=False,
            name="slice",
            lighting=False,
        )

    plotter.add_plane_widget(on_plane, normal="z", color="white", outline_translation=False)


def _wire_time(
    plotter: pv.Plotter, state: ViewerState, redraw: Callable[[str], None], poll_ms: int | None
) -> None:
    """Step slider, ] / [ keys and (``poll_ms``) a timer that follows the growing file."""
    assert state.time is not None
    time = state.time
    slider = plotter.add_slider_widget(
        lambda v: redraw(set_time(state, round(v))),
        [0.0, float(max(time.n_steps - 1, 1))],
        value=float(state.time_index % time.n_steps),
        title="record",
        pointa=(0.67, 0.1),
        pointb=(0.95, 0.1),
        style="modern",
        fmt="%.0f",
    )

    def sync(line: str) -> None:
        rep = slider.GetRepresentation()
        rep.SetMaximumValue(float(max(time.n_steps - 1, 1)))
        rep.SetValue(float(state.time_index))
        redraw(line)

    for key, delta in (("bracketright", 1), ("bracketleft", -1)):
        plotter.add_key_event(key, lambda d=delta: sync(step_time(state, d)))
    if poll_ms and plotter.iren is not None:

        def on_timer(_step: int) -> None:
            line = poll(state)
            if line is not None:
                sync(line)

        plotter.iren.add_timer_event(max_steps=2**31 - 1, duration=poll_ms, callback=on_timer)


def _wire_picking_and_sampling(
    plotter: pv.Plotter, state: ViewerState, parts: dict[str, Any], say: Callable[[str], None]
) -> None:
    from vtkmodules.vtkRenderingVolume import vtkVolumePicker

    picker = vtkVolumePicker()
    picker.SetVolumeOpacityIsovalue(0.05)

    def on_click(*_: Any) -> None:
        x, y = plotter.iren.get_event_position()
        if picker.Pick(x, y, 0, plotter.renderer):
            say(describe_pick(pick(state, world_to_voxel(parts["grid"], picker.GetPickPosition()))))

    plotter.iren.add_observer("RightButtonPressEvent", on_click)
    plotter.iren.add_observer(
        "StartInteractionEvent",
        lambda *_: interaction_sampling(parts["volume"], parts["grid"], True),
    )
    plotter.iren.add_observer(
        "EndInteractionEvent",
        lambda *_: interaction_sampling(parts["volume"], parts["grid"], False),
    )
