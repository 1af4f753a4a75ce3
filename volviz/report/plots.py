"""Matplotlib plots for the report (Agg figures, no pyplot state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def histogram_png(path: Path, values: np.ndarray, title: str) -> Path:
    """Log-count histogram of a layer's activation values, with the zero line marked."""
    fig = Figure(figsize=(4.2, 2.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.hist(values.ravel(), bins=80, color="#4c72b0", log=True)
    ax.axvline(0.0, color="#c44e52", lw=1)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("activation", fontsize=8)
    ax.set_ylabel("count (log)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.savefig(path)
    return path


def correlation_png(path: Path, corr: np.ndarray, order: np.ndarray, title: str) -> Path:
    """The channel correlation matrix, rows and columns in ``order``."""
    fig = Figure(figsize=(4.2, 3.6), dpi=100, layout="constrained")
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
    fig = Figure(figsize=(4.2, 2.6), dpi=100, layout="constrained")
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
