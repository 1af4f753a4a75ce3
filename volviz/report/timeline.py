"""The report's "Training over time" section, for stores written by ``volviz.track``.

Loss over steps; per conv layer the weight drift of every filter over time
(``||W_t - W_0|| / ||W_0||``, a filters x steps heatmap and the filters that drifted most);
per layer the activation change on the probe set between consecutive records
(mean ``|A_t - A_(t-1)|`` per channel, a channels x steps heatmap).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from volviz.report.templates import from_string

TOP_FILTERS = 5


def loss_png(path: Path, steps: np.ndarray, epochs: np.ndarray, loss: np.ndarray) -> Path:
    """Loss at each record over training steps (log scale when it spans > 10x)."""
    fig = Figure(figsize=(5.2, 2.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ok = np.isfinite(loss)
    ax.plot(steps[ok], loss[ok], marker="o", ms=3, color="#4c72b0")
    positive = loss[ok][loss[ok] > 0]
    if positive.size > 1 and positive.max() > 10 * positive.min():
        ax.set_yscale("log")
    if (epochs >= 0).any():
        starts = [i for i in range(1, len(epochs)) if epochs[i] != epochs[i - 1]]
        for i in starts:
            ax.axvline(steps[i], color="grey", lw=0.4, alpha=0.5)
    ax.set_title("loss at each record (grey lines: a new epoch)", fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("loss", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.savefig(path)
    return path


def heatmap_png(
    path: Path, values: np.ndarray, steps: np.ndarray, title: str, rows: str, label: str
) -> Path:
    """A (T, C) metric as a C x T picture: one row per channel/filter, one column per record.

    Columns are records (labelled with their step), so unevenly spaced records stay readable.
    """
    fig = Figure(figsize=(5.2, 3.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values.T, aspect="auto", cmap="viridis", interpolation="nearest")
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 10)).round().astype(int))
    ax.set_xticks(ticks, [str(int(steps[i])) for i in ticks])
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step (one column per record)", fontsize=8)
    ax.set_ylabel(rows, fontsize=8)
    ax.tick_params(labelsize=7)
    fig.colorbar(image, ax=ax, shrink=0.85, label=label)
    fig.savefig(path)
    return path


def top_drift_png(path: Path, drift: np.ndarray, steps: np.ndarray, title: str) -> Path:
    """Drift (T, O) over steps of the ``TOP_FILTERS`` filters that drifted most, and the median."""
    fig = Figure(figsize=(5.2, 2.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for o in top_filters(drift):
        ax.plot(steps, drift[:, o], marker="o", ms=2, label=f"filter {o}")
    ax.plot(steps, np.median(drift, axis=1), color="grey", ls="--", label="median of all")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("||W_t - W_0|| / ||W_0||", fontsize=8)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    fig.savefig(path)
    return path


def top_filters(drift: np.ndarray, k: int = TOP_FILTERS) -> np.ndarray:
    """Indices of the ``k`` filters with the largest final drift, largest first (stable)."""
    return np.argsort(-drift[-1], kind="stable")[:k]


def time_section(store: Any, layers: Sequence[str], folder: Path) -> str:
    """HTML of the section (figures written into ``folder``); "" without a ``/timeline``."""
    if "timeline" not in store.file:
        return ""
    from volviz.store.timeline import Timeline, activation_change, weight_drift

    line = Timeline(store)
    if line.n_steps == 0:
        return ""
    steps, epochs, loss = line.steps, line.epochs, line.loss
    parts = ["<h2 id='training'>Training over time</h2>", _summary(store, steps, epochs, loss)]
    figures = []
    if np.isfinite(loss).any():
        figures.append(("loss over steps", loss_png(folder / "time_loss.png", steps, epochs, loss)))
    parts.append(_figures(figures))
    for layer in layers:
        group = store.layer_group(layer)
        if "timeline_activations" not in group:
            continue
        slug = "".join(ch if ch.isalnum() else "_" for ch in layer).strip("_") or "layer"
        parts.append(from_string("<h3>layer {{ layer }}</h3>", layer=layer))
        figures, rows = [], []
        if "weight" in group:
            drift = weight_drift(line.weights(layer))
            figures += _drift_figures(folder, slug, layer, drift, steps)
            top = ", ".join(f"{o} ({drift[-1, o]:.3g})" for o in top_filters(drift))
            rows.append(("filters that drifted most (final drift)", top))
        change = activation_change(line.activations(layer))
        name = f"{slug}_time_activation_change.png"
        title = f"{layer}: activation change from the previous record"
        heatmap_png(folder / name, change, steps, title, "channel", "mean |A_t - A_(t-1)|")
        figures.append(("activation change per channel on the probe images", folder / name))
        busiest = int(np.argmax(change.sum(axis=0)))
        rows.append(("channel whose activations changed most", str(busiest)))
        parts.append(_table(rows))
        parts.append(_figures(figures))
    return "\n".join(parts)


def _drift_figures(
    folder: Path, slug: str, layer: str, drift: np.ndarray, steps: np.ndarray
) -> list[tuple[str, Path]]:
    heat = folder / f"{slug}_time_drift.png"
    heatmap_png(heat, drift, steps, f"{layer}: weight drift per filter", "filter", "drift")
    lines = folder / f"{slug}_time_top_drift.png"
    top_drift_png(lines, drift, steps, f"{layer}: the {TOP_FILTERS} filters that drifted most")
    return [
        ("weight drift ||W_t - W_0|| / ||W_0|| per filter over steps", heat),
        ("filters that drifted most, and the median", lines),
    ]


def _summary(store: Any, steps: np.ndarray, epochs: np.ndarray, loss: np.ndarray) -> str:
    every = store.provenance.get("every", "")
    finite = loss[np.isfinite(loss)]
    rows = [
        ("records", f"{len(steps)} (steps {int(steps[0])}..{int(steps[-1])}, every {every})"),
        ("epochs", f"{int(epochs.min())}..{int(epochs.max())}" if (epochs >= 0).any() else "-"),
        ("loss first -> last", f"{finite[0]:.4g} -> {finite[-1]:.4g}" if finite.size else "-"),
        ("probe images", str(store.n_images)),
    ]
    return _table(rows)


def _table(rows: Sequence[tuple[str, str]]) -> str:
    return from_string("{{ table(rows) }}", rows=rows)


def _figures(figures: Sequence[tuple[str, Path]]) -> str:
    source = "{% for c, p in figures %}{{ figure(p.name, c) }}{% endfor %}"
    return from_string(source, figures=figures)
