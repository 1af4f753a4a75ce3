"""Linked comparisons: 2-4 volumes side by side, one shared camera, one display range.

Typical uses: class gradients for a reference, a similar and a dissimilar class (CNN-VIS),
a layer in original vs ordered channel order, one layer for two images. ``difference``
adds a panel with ``a - b`` on a symmetric diverging scale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pyvista as pv

from volviz.errors import VolvizError
from volviz.render.ordered import ChannelOrder, arrange
from volviz.render.volume import (
    Style,
    add_titles,
    add_volume,
    label_axes,
    map_camera,
    new_plotter,
    to_image_data,
)
from volviz.store.views import auto_spacing, display_range, normalize

DIFFERENCE_CMAP = "coolwarm"


def difference_volume(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - b`` as float32, ndarray of shape (C, H, W); the shapes must match."""
    if a.shape != b.shape:
        msg = f"a difference needs equal shapes, got {a.shape} and {b.shape}"
        raise VolvizError(msg)
    return np.asarray(a, np.float32) - np.asarray(b, np.float32)


def compare_plotter(
    volumes: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    style: Style | None = None,
    orders: Sequence[ChannelOrder | None] | None = None,
    difference: bool = False,
    shared_range: bool = True,
    title: str = "",
) -> pv.Plotter:
    """Panels side by side with linked cameras.

    Parameters
    ----------
    volumes : sequence of ndarray of shape (C, H, W)
        2 to 4 volumes; shapes may differ unless ``shared_range`` or ``difference``.
    titles : sequence of str
        One per volume.
    orders : sequence of ChannelOrder or None, optional
        A channel order per panel (None: original order).
    difference : bool
        Add a panel ``volumes[0] - volumes[1]`` (needs exactly two volumes).
    shared_range : bool
        One display range for all panels (honest comparison); else each its own.
    """
    style = style or Style()
    n = len(volumes)
    if not 2 <= n <= 4 or len(titles) != n:
        msg = f"compare takes 2 to 4 volumes with one title each, got {n} and {len(titles)}"
        raise VolvizError(msg)
    if difference and n != 2:
        raise VolvizError(f"needs exactly 2 volumes, got {n}", param="difference")
    orders = list(orders) if orders is not None else [None] * n
    same = len({v.shape for v in volumes}) == 1
    limits = display_range(volumes, style.normalization) if shared_range and same else None
    panels: list[tuple[np.ndarray, str, ChannelOrder | None, Style]] = [
        (v, t, o, style) for v, t, o in zip(volumes, titles, orders, strict=True)
    ]
    if difference:
        diff_style = dataclasses.replace(
            style, normalization="symmetric", cmap=DIFFERENCE_CMAP, preset="diverging"
        )
        panels.append(
            (difference_volume(volumes[0], volumes[1]), "difference a - b", None, diff_style)
        )
    plotter = new_plotter(style, shape=(1, len(panels)), border=False)
    for i, (volume, name, order, look) in enumerate(panels):
        plotter.subplot(0, i)
        plotter.set_background("#15171c")
        lims = limits if look is style else None
        if lims is None:
            lims = display_range([volume], look.normalization)
        shown, label = normalize(volume, look.normalization, limits=lims)
        fill = 0.5 if look.normalization == "symmetric" else 0.0
        arranged = arrange(shown, order, fill=fill)
        spacing = look.spacing or auto_spacing(arranged.volume.shape)
        grid = to_image_data(arranged.volume, spacing, "activation")
        # One bar for the shared range (first panel), one per panel otherwise; the difference
        # panel always has its own diverging bar.
        own = look is not style or limits is None
        bar = "a - b" if look is not style else (style.quantity if own or i == 0 else None)
        add_volume(plotter, grid, look, bar_title=bar, limits=lims, bar_below=True)
        label_axes(plotter, grid, arranged.volume.shape, channel_title=arranged.axis_title)
        add_titles(plotter, name, f"display: {label}")
        map_camera(plotter)
    plotter.link_views()
    if title:
        plotter.subplot(0, 0)  # a second line under the first panel's title
        plotter.add_text(title, position=(0.01, 0.9), viewport=True, font_size=6, color="white")
    return plotter
