"""Matplotlib plots for the report (Agg figures, no pyplot state).

The figures have fixed sizes and fonts, so their margins are fixed too: a layout engine
would spend about 0.1 s per figure (half its drawing time) finding the same margins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

# left, bottom, right, top of the axes (figure fractions) of a 4.2 x 2.6 inch plot
_MARGINS = {"left": 0.16, "bottom": 0.17, "right": 0.97, "top": 0.9}


def _figure(height: float = 2.6, **margins: float) -> Figure:
    fig = Figure(figsize=(4.2, height), dpi=100)
    fig.subplots_adjust(**{**_MARGINS, **margins})
    return fig


def histogram_png(path: Path, values: np.ndarray, title: str) -> Path:
    """Log-count histogram of a layer's activation values, with the zero line marked."""
    fig = _figure()
    ax = fig.add_subplot()
    counts, edges = np.histogram(values, bins=80)
    ax.stairs(counts, edges, fill=True, color="#4c72b0")  # one patch, not 80 bars
    ax.set_yscale("log")
    ax.axvline(0.0, color="#c44e52", lw=1)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("activation", fontsize=8)
    ax.set_ylabel("count (log)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.savefig(path)
    return path


def correlation_png(path: Path, corr: np.ndarray, order: np.ndarray, title: str) -> Path:
    """The channel correlation matrix, rows and columns in ``order``."""
    fig = _figure(3.6, left=0.15, bottom=0.12, right=0.9, top=0.93)
    ax = fig.add_subplot()
    shown = corr[np.ix_(order, order)]
    image = ax.imshow(shown, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("channel (ordered)", fontsize=8)
    ax.set_ylabel("channel (ordered)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8, label="Pearson r")
    fig.savefig(path)
    return path


def channel_stats_png(path: Path, mean: np.ndarray, maximum: np.ndarray, title: str) -> Path:
    """Per-channel mean and maximum, channels sorted by maximum."""
    fig = _figure(left=0.12)
    ax = fig.add_subplot()
    order = np.argsort(-maximum, kind="stable")
    ax.plot(maximum[order], label="max", color="#dd8452")
    ax.plot(mean[order], label="mean", color="#4c72b0")
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("channels, sorted by max", fontsize=8)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    fig.savefig(path)
    return path
