"""Tile many small 2-D maps into one image with labels and cluster separators.

One ``imshow`` of a masked mosaic is far faster than one Axes per tile (1,280 channels) and
gives one shared colour scale. Every tile has a label band above it; separators are the
staircase between tile k-1 and tile k in row-major order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

_TARGET_TILE_PX = 56  # on-screen size of a small tile
_MAX_MOSAIC_PX = 3600
_MARGIN_IN = 0.15
_TITLE_IN = 0.55
_CBAR_IN = 1.1


@dataclass(frozen=True)
class Layout:
    """Geometry of a tile mosaic in data units (mosaic pixels)."""

    n: int
    rows: int
    cols: int
    h: int
    w: int
    gap: int
    band: int

    @property
    def pitch_x(self) -> int:
        return self.w + self.gap

    @property
    def pitch_y(self) -> int:
        return self.band + self.h + self.gap

    @property
    def size(self) -> tuple[int, int]:
        return self.rows * self.pitch_y, self.cols * self.pitch_x

    def origin(self, k: int) -> tuple[int, int]:
        """Top-left (y, x) of tile k."""
        r, c = divmod(k, self.cols)
        return r * self.pitch_y + self.band, c * self.pitch_x + self.gap // 2


def make_layout(n: int, h: int, w: int, *, ncols: int | None = None) -> Layout:
    """Pick gaps and a near-square arrangement for ``n`` tiles of ``h`` x ``w``."""
    gap = max(1, round(0.08 * max(h, w)))
    band = max(3, math.ceil(0.3 * max(h, w)))
    if ncols is None:
        ncols = math.ceil(math.sqrt(n * (band + h + gap) / (w + gap)))
    cols = max(1, min(int(ncols), n))
    return Layout(n, math.ceil(n / cols), cols, h, w, gap, band)


def mosaic(tiles: np.ndarray, layout: Layout) -> np.ma.MaskedArray:
    """Place tiles (K, h, w) or (K, h, w, 3) into a masked mosaic array (gaps masked)."""
    rows, cols = layout.size
    shape = (rows, cols, *tiles.shape[3:])
    out = np.zeros(shape, dtype=np.float64)
    mask = np.ones(shape, dtype=bool)
    for k in range(tiles.shape[0]):
        y, x = layout.origin(k)
        out[y : y + layout.h, x : x + layout.w] = tiles[k]
        mask[y : y + layout.h, x : x + layout.w] = False
    return np.ma.MaskedArray(out, mask=mask)


def new_figure(
    layout: Layout, *, dpi: int, colorbar: bool
) -> tuple[Figure, Axes, Axes | None, float]:
    """A Figure sized so tiles are readable; returns (figure, axes, colorbar axes, px/unit)."""
    rows, cols = layout.size
    scale = max(2.0, _TARGET_TILE_PX / max(layout.h, layout.w))
    scale = min(scale, _MAX_MOSAIC_PX / max(rows, cols))
    ax_w, ax_h = cols * scale / dpi, rows * scale / dpi
    fig_w = ax_w + 2 * _MARGIN_IN + (_CBAR_IN if colorbar else 0.0)
    fig_w = max(fig_w, 4.0)
    fig_h = ax_h + _MARGIN_IN + _TITLE_IN
    fig = Figure(figsize=(fig_w, fig_h), dpi=dpi)
    ax = fig.add_axes((_MARGIN_IN / fig_w, _MARGIN_IN / fig_h, ax_w / fig_w, ax_h / fig_h))
    ax.set_axis_off()
    cax = None
    if colorbar:
        left = (_MARGIN_IN + ax_w + 0.15) / fig_w
        cax = fig.add_axes((left, _MARGIN_IN / fig_h, 0.18 / fig_w, ax_h / fig_h))
    return fig, ax, cax, scale


def draw_tiles(
    ax: Axes,
    data: np.ma.MaskedArray,
    *,
    cmap: Colormap | None,
    norm: Normalize | None,
) -> AxesImage:
    """``imshow`` the mosaic with square pixels and no smoothing (RGB gaps drawn white)."""
    shown = data.filled(1.0) if data.ndim == 3 else data
    return ax.imshow(shown, cmap=cmap, norm=norm, interpolation="nearest", aspect="equal")


def draw_labels(ax: Axes, layout: Layout, labels: list[str], *, scale: float, dpi: int) -> None:
    """Write one label centred in each tile's band."""
    pt_per_unit = scale * 72.0 / dpi
    size = max(3.0, min(9.0, 0.75 * layout.band * pt_per_unit))
    longest = max(len(s) for s in labels)
    size = max(3.0, min(size, 1.6 * layout.w * pt_per_unit / max(longest, 1)))
    for k, text in enumerate(labels):
        y, x = layout.origin(k)
        ax.text(
            x + layout.w / 2 - 0.5,
            y - layout.band / 2 - 0.5,
            text,
            ha="center",
            va="center",
            fontsize=size,
            color="0.15",
        )


def boundaries(labels: np.ndarray | None, order: np.ndarray) -> list[int]:
    """Display positions k where the cluster label changes from tile k-1 to tile k."""
    if labels is None:
        return []
    shown = np.asarray(labels)[order]
    return [int(k) for k in np.flatnonzero(shown[1:] != shown[:-1]) + 1]


def draw_separators(
    ax: Axes, layout: Layout, positions: list[int], *, color: str = "crimson"
) -> None:
    """Draw the staircase between tiles k-1 and k for each k in ``positions``."""
    px, py = layout.pitch_x, layout.pitch_y
    right = layout.cols * px
    for k in positions:
        r, c = divmod(k, layout.cols)
        y0, y1 = r * py - 0.5, (r + 1) * py - 0.5
        xs: list[float]
        ys: list[float]
        if c == 0:
            xs, ys = [-0.5, right - 0.5], [y0, y0]
        else:
            x = c * px - 0.5
            xs = [right - 0.5, x, x, -0.5]
            ys = [y0, y0, y1, y1]
        ax.plot(xs, ys, color=color, linewidth=1.4, solid_capstyle="butt")
    rows, cols = layout.size
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)


def grid_figure(
    tiles: np.ndarray,
    labels: list[str],
    *,
    title: str,
    cmap: Colormap | None,
    norm: Normalize | None,
    separators: list[int],
    ncols: int | None,
    dpi: int,
    colorbar_label: str | None,
    separator_color: str = "crimson",
) -> Figure:
    """One Figure: tiles (K, h, w[, 3]) in a labelled mosaic, separators, colorbar, title."""
    layout = make_layout(tiles.shape[0], tiles.shape[1], tiles.shape[2], ncols=ncols)
    fig, ax, cax, scale = new_figure(layout, dpi=dpi, colorbar=cmap is not None)
    image = draw_tiles(ax, mosaic(tiles, layout), cmap=cmap, norm=norm)
    draw_labels(ax, layout, labels, scale=scale, dpi=dpi)
    draw_separators(ax, layout, separators, color=separator_color)
    if cax is not None:
        bar = fig.colorbar(image, cax=cax)
        if colorbar_label:
            bar.set_label(colorbar_label)
    fig.suptitle(title, y=1.0 - 0.08 / fig.get_figheight(), va="top", fontsize=11)
    return fig
