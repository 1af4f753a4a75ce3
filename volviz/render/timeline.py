"""Volumes over training steps (stores written by ``volviz.track``): animations, contact
sheets and the time source of the viewer. Never imports torch.

Two things make frames comparable over time:

- one channel order for every frame (``stable_order``: fitted once, on the first or the
  final recorded step, or a stored ordering), so channels never jump between frames;
- one display range over all frames (``fixed_range``), so a brighter frame means larger
  values, not a rescaled picture.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv

from volviz.errors import VolvizError
from volviz.render.annotate import BACKGROUND
from volviz.render.model import Scene, View
from volviz.render.ordered import Arranged, ChannelOrder, arrange
from volviz.render.time_range import RunningRange, tail_for
from volviz.render.volume import Style, arranged_view, screenshot_array
from volviz.render.weights import reduce_input_channels
from volviz.store.views import NORMALIZATIONS, data_limits, display_range

SERIES = ("activations", "weight", "weight_grad")
TIME_ORDERINGS = ("none", "first", "final")
SHEET_FRAMES = 8  # a PNG of a run shows at most this many steps


@dataclass(frozen=True)
class Series:
    """One layer's volumes over recorded steps.

    Attributes
    ----------
    volumes : ndarray of shape (T, C, H, W)
        Raw values, float32 (NaN where a weight had no gradient yet).
    labels : list of str
        Per frame: step, epoch and loss.
    steps : ndarray of shape (T,)
        Training step of each frame.
    name : str
        What is shown (layer, image, series).
    quantity : str
        Scalar bar title.
    """

    volumes: np.ndarray
    labels: list[str]
    steps: np.ndarray
    name: str
    quantity: str = "activation"


def frame_label(step: int, epoch: int, loss: float) -> str:
    """``step 120  epoch 3  loss 0.231`` (epoch and loss left out when not recorded)."""
    parts = [f"step {step}"]
    if epoch >= 0:
        parts.append(f"epoch {epoch}")
    if np.isfinite(loss):
        parts.append(f"loss {loss:.4g}")
    return "  ".join(parts)


def pick_frames(n: int, max_frames: int | None = None) -> np.ndarray:
    """Indices of at most ``max_frames`` of ``n`` records, evenly spread, first and last kept."""
    if max_frames is None or max_frames >= n:
        return np.arange(n)
    if max_frames < 2:
        raise VolvizError("must be at least 2", param="frames", value=max_frames)
    return np.unique(np.linspace(0, n - 1, max_frames).round().astype(np.int64))


def load_series(
    timeline: Any,
    layer: str,
    *,
    image: int = 0,
    data: str = "activations",
    reduce: str = "sum",
    frames: Sequence[int] | np.ndarray | None = None,
) -> Series:
    """Read ``layer``'s ``data`` over time from a ``volviz.store.timeline.Timeline``.

    Parameters
    ----------
    data : {"activations", "weight", "weight_grad"}
        Probe activations of ``image`` (C, H, W), or the conv weights / their gradients
        (O, I, kh, kw) reduced over I by ``reduce`` to (O, kh, kw).
    frames : sequence of int, optional
        Record indices to read (default: all complete records).
    """
    if data not in SERIES:
        msg = f"is not one of {', '.join(SERIES)}"
        raise VolvizError(msg, param="series", value=data)
    n = timeline.n_steps
    if n == 0:
        msg = f"{timeline.store.path.name} has no recorded steps yet"
        raise VolvizError(msg)
    index = np.arange(n) if frames is None else np.asarray(frames, dtype=np.int64)
    if data == "activations":
        volumes = np.stack([timeline.volume(layer, image, int(t)) for t in index])
        name = f"layer {layer}  image {image} ({timeline.store.inputs[image]['name']})"
    else:
        raw = timeline.weights(layer) if data == "weight" else timeline.weight_grads(layer)
        volumes = np.stack([reduce_input_channels(raw[int(t)], reduce) for t in index])
        name = f"layer {layer}  {data} ({reduce} over inputs)"
    steps, epochs, loss = timeline.steps, timeline.epochs, timeline.loss
    labels = [frame_label(int(steps[t]), int(epochs[t]), float(loss[t])) for t in index]
    quantity = {"weight": "weight", "weight_grad": "gradient"}.get(data, "activation")
    return Series(volumes.astype(np.float32), labels, steps[index], name, quantity)


def stable_order(volumes: np.ndarray, mode: str = "final") -> ChannelOrder | None:
    """One channel order for every frame of ``volumes`` (T, C, H, W).

    ``first`` / ``final`` fit ``ordering.fit_order(volume, "best")`` once on that frame;
    ``none`` keeps the original order. Fewer than 3 channels: the original order.
    """
    if mode not in TIME_ORDERINGS:
        msg = f"is not one of {', '.join(TIME_ORDERINGS)}"
        raise VolvizError(msg, param="time_ordering", value=mode)
    if mode == "none" or volumes.shape[1] < 3:
        return None
    import ordering

    frame = np.nan_to_num(volumes[0 if mode == "first" else -1])
    fitted = ordering.fit_order(frame, "best")
    return ChannelOrder(np.asarray(fitted.order_), fitted.boundaries_, f"best on {mode} step")


def fixed_range(volumes: np.ndarray, method: str) -> tuple[Any, Any]:
    """Display range (lo, hi) shared by all frames of ``volumes`` (T, C, H, W).

    Scalars for ``percentile`` / ``minmax`` / ``symmetric``; for ``channel`` arrays of shape
    (C, 1, 1): each channel's range over all frames. NaNs are ignored.
    """
    if method not in NORMALIZATIONS:
        msg = f"is not one of {', '.join(NORMALIZATIONS)}"
        raise VolvizError(msg, param="normalization", value=method)
    finite = np.where(np.isfinite(volumes), volumes, np.nan)
    if not np.isfinite(finite).any():
        return 0.0, 1.0
    if method == "channel":
        with warnings.catch_warnings():  # a channel without any finite value: range 0..0
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = np.nanmin(finite, axis=(0, 2, 3))[:, None, None]
            hi = np.nanmax(finite, axis=(0, 2, 3))[:, None, None]
        return np.nan_to_num(lo), np.nan_to_num(hi)
    values = finite[np.isfinite(finite)]
    limits = display_range([values], method)
    assert limits is not None  # not "channel"
    return limits


def scale(volume: np.ndarray, lo: Any, hi: Any, fill: float = 0.0) -> np.ndarray:
    """``volume`` mapped to display values 0..1 by (lo, hi); NaN becomes ``fill``."""
    span = np.where(np.asarray(hi) > lo, np.asarray(hi) - lo, 1.0)
    shown = np.clip((volume - lo) / span, 0.0, 1.0)
    return np.where(np.isfinite(shown), shown, fill).astype(np.float32)


def range_label(method: str, lo: Any, hi: Any, n: int) -> str:
    """What the display range is, for the picture's note."""
    if method == "channel":
        return f"display: per-channel min-max over all {n} records"
    how = {"percentile": "percentile clip 1..99.5", "minmax": "min-max"}.get(method, method)
    return f"display: {how} over all {n} records ({float(lo):.3g}..{float(hi):.3g})"


class TimeScene:
    """A volume scene whose data and title change per frame (one Plotter for all frames).

    Parameters
    ----------
    series : Series
    style : Style
        ``style.normalization`` is applied with one range over all frames.
    order : ChannelOrder, optional
        The same channel order for every frame.
    gap, bands
        As in ``volume_plotter``.
    """

    def __init__(
        self,
        series: Series,
        *,
        style: Style | None = None,
        order: ChannelOrder | None = None,
        gap: int = 0,
        bands: bool = False,
    ) -> None:
        self.series, self.order, self.gap = series, order, gap
        self.style = style or Style()
        self.lo, self.hi = fixed_range(series.volumes, self.style.normalization)
        self.fill = 0.5 if self.style.normalization == "symmetric" else 0.0
        self.note = range_label(self.style.normalization, self.lo, self.hi, len(series.labels))
        self.bands = bands
        self._plotter: pv.Plotter | None = None
        self.grid: pv.ImageData | None = None

    @property
    def plotter(self) -> pv.Plotter:
        """The PyVista window of the frames, drawn on first use (the HTML page needs none)."""
        if self._plotter is None:
            from volviz.render.draw import draw

            first = self.view(0)
            first.title = ""  # the window shows the title as a text that ``show`` replaces
            self._plotter = draw(Scene([first]), self.style)
            volumes = self._plotter.renderer.actors.values()
            actor = next(a for a in volumes if isinstance(a, pv.Volume))
            # The volume actor draws a copy of the grid: frames change the copy it reads.
            self.grid = actor.mapper.dataset
            self.show(0)
        return self._plotter

    def view(self, t: int) -> View:
        """Frame ``t`` as a scene panel (the plotter shows it with the title as text)."""
        look = dataclasses.replace(self.style, quantity=self.series.quantity)
        arranged = self.arranged(t)
        # one range over all frames, in data units
        limits = data_limits(self.lo, self.hi)
        view = arranged_view(arranged, look, limits, "", self.note, bands=self.bands)
        view.title = self.title(t).replace("\n", "  ")
        return view

    def __len__(self) -> int:
        return len(self.series.labels)

    def arranged(self, t: int) -> Arranged:
        """Frame ``t`` as display values in the scene's channel order."""
        shown = scale(self.series.volumes[t], self.lo, self.hi, self.fill)
        return arrange(shown, self.order, gap=self.gap, fill=self.fill)

    def title(self, t: int) -> str:
        return f"{self.series.name}\n{self.series.labels[t]}  ({t + 1}/{len(self)})"

    def show(self, t: int) -> None:
        """Put frame ``t``'s values and title into the scene."""
        plotter = self.plotter
        assert self.grid is not None
        self.grid.point_data["activation"] = self.arranged(t).volume.ravel()
        self.grid.Modified()
        plotter.add_text(self.title(t), font_size=10, color="white", name="title")

    def frames(self, indices: Sequence[int] | None = None) -> Iterator[np.ndarray]:
        """Yield each frame as an image (H, W, 3) uint8 with even sides."""
        for t in range(len(self)) if indices is None else indices:
            self.show(int(t))
            image = screenshot_array(self.plotter)
            yield image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]

    def close(self) -> None:
        if self._plotter is not None:
            self._plotter.close()


def contact_sheet(frames: Sequence[np.ndarray], columns: int | None = None) -> np.ndarray:
    """Tile equal-sized frames (H, W, 3) in rows of ``columns`` (default: up to 4)."""
    if columns is not None and columns < 1:
        raise VolvizError("must be at least 1", param="columns", value=columns)
    n = len(frames)
    cols = min(columns or 4, n)
    rows = math.ceil(n / cols)
    h, w, _ = frames[0].shape
    sheet = np.empty((rows * h, cols * w, 3), np.uint8)
    sheet[...] = np.asarray(pv.Color(BACKGROUND).int_rgb, np.uint8)
    for k, frame in enumerate(frames):
        r, c = divmod(k, cols)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = frame
    return sheet


def write_sheet(
    scene: TimeScene, path: str | os.PathLike[str], *, columns: int | None = None
) -> Path:
    """A PNG of up to ``SHEET_FRAMES`` evenly spread frames (first and last included)."""
    from PIL import Image

    from exporters import atomic_file

    target = Path(path)
    try:
        with atomic_file(target) as tmp:
            frames = list(scene.frames(pick_frames(len(scene), SHEET_FRAMES).tolist()))
            Image.fromarray(contact_sheet(frames, columns)).save(tmp, format="PNG")
    finally:
        scene.close()
    return target


class TimelineSource:
    """What the viewer needs from a tracked store (see ``viewer.TimeSource``).

    Following a live run costs the same per new record however long the run is: the
    display range is updated from the new records only (``RunningRange``).
    """

    BLOCK = 256  # records read at once when (re)building a display range

    def __init__(self, timeline: Any) -> None:
        self.timeline = timeline
        self._ranges: dict[tuple[str, int, str], RunningRange] = {}

    @property
    def n_steps(self) -> int:
        return int(self.timeline.n_steps)

    def refresh(self) -> int:
        """Pick up records appended since the last call; the record count."""
        return int(self.timeline.refresh())

    def volume(self, layer: str, image: int, t: int) -> np.ndarray:
        return np.asarray(self.timeline.volume(layer, image, t), dtype=np.float32)

    def label(self, t: int) -> str:
        return frame_label(*self.timeline.record(t))

    def limits(self, layer: str, image: int, method: str) -> tuple[Any, Any]:
        """``fixed_range`` over all complete records of ``layer`` and ``image``, reading
        only the records added since the last call (all of them about once per doubling)."""
        key = (layer, image, method)
        running = self._ranges.get(key) or RunningRange(method)
        self._fold(running, layer, image)
        if running.needs_rebuild:
            running = RunningRange(method, tail=tail_for(running.count))
            self._fold(running, layer, image)
        self._ranges[key] = running
        return running.limits()

    def _fold(self, running: RunningRange, layer: str, image: int) -> None:
        for start in range(running.records, self.n_steps, self.BLOCK):
            stop = min(start + self.BLOCK, self.n_steps)
            running.add(self.timeline.volumes(layer, image, start, stop))


__all__ = [
    "SERIES",
    "TIME_ORDERINGS",
    "Series",
    "TimeScene",
    "TimelineSource",
    "contact_sheet",
    "fixed_range",
    "frame_label",
    "load_series",
    "pick_frames",
    "scale",
    "stable_order",
    "write_sheet",
]
