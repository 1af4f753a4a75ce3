"""A training run (:class:`~volviz.render.timeline.TimeScene`) as one offline plotly page:
the newest record's scene (:func:`volviz.render.html.scene_figure`), one animation frame
per record, a step slider and play / pause buttons."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from volviz.render.html import HTML_MAX_POINTS, pool_factor, pooled, save_page, scene_figure

if TYPE_CHECKING:
    from volviz.render.timeline import TimeScene

HTML_TIME_MAX_POINTS = 4_000_000  # over all frames of a time page (about 5 MB of text)


def time_figure(scene: TimeScene, *, indices: Sequence[int] | None = None) -> Any:
    """A plotly figure of a ``TimeScene`` with one animation frame per record and a slider.

    Every frame holds only the volume's values (bytes, on the first frame's points); the
    title follows the slider. Volumes are max-pooled so that all frames together stay under
    ``HTML_TIME_MAX_POINTS`` samples (and each under ``HTML_MAX_POINTS``).
    """
    import plotly.graph_objects as go

    picks = list(range(len(scene))) if indices is None else [int(t) for t in indices]
    budget = max(min(HTML_MAX_POINTS, HTML_TIME_MAX_POINTS // max(len(picks), 1)), 1000)
    # The page opens on the newest record (the trained state); play runs from the first.
    last = scene.view(picks[-1])
    layer = last.volumes[0]
    f = pool_factor([layer.display.shape], budget)
    values = [
        pooled(dataclasses.replace(layer, display=scene.arranged(t).volume), f)[1] for t in picks
    ]
    fig = scene_figure(last, max_points=budget)
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
        return save_page(time_figure(scene, indices=indices), path, auto_play=False)
    finally:
        scene.close()
