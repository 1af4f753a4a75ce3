"""Linked comparisons: 2-4 volumes side by side, one shared camera, one display range.

Typical uses: class gradients for a reference, a similar and a dissimilar class (CNN-VIS),
a layer in original vs ordered channel order, one layer for two images. ``difference``
adds a panel with ``a - b`` on a symmetric diverging scale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyvista as pv

from volviz.errors import VolvizError
from volviz.render.model import Scene, View
from volviz.render.ordered import ChannelOrder, arrange
from volviz.render.volume import Style, arranged_view, signed_fill
from volviz.store.views import display_range, normalize

DIFFERENCE_CMAP = "coolwarm"


def difference_volume(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - b`` as float32, ndarray of shape (C, H, W); the shapes must match."""
    if a.shape != b.shape:
        msg = f"a difference needs equal shapes, got {a.shape} and {b.shape}"
        raise VolvizError(msg)
    return np.asarray(a, np.float32) - np.asarray(b, np.float32)


def compare_plotter(
    volumes: Sequence[np.ndarray], titles: Sequence[str], **options: Any
) -> pv.Plotter:
    """A Plotter of :func:`compare_scene` (same parameters)."""
    from volviz.render.draw import draw

    return draw(compare_scene(volumes, titles, **options), options.get("style") or Style())


def compare_scene(
    volumes: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    style: Style | None = None,
    orders: Sequence[ChannelOrder | None] | None = None,
    difference: bool = False,
    shared_range: bool = True,
    title: str = "",
) -> Scene:
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
    title : str
        A second line under the first panel's title.
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
            style,
            normalization="symmetric",
            cmap=DIFFERENCE_CMAP,
            preset="diverging",
            quantity="a - b",
        )
        panels.append(
            (difference_volume(volumes[0], volumes[1]), "difference a - b", None, diff_style)
        )
    return Scene(_views(panels, style, limits), caption=title)


def _views(
    panels: Sequence[tuple[np.ndarray, str, ChannelOrder | None, Style]],
    style: Style,
    limits: tuple[float, float] | None,
) -> list[View]:
    """One panel per (volume, title, order, look); ``limits``: the shared display range."""
    views = []
    for i, (volume, name, order, look) in enumerate(panels):
        lims = limits if look is style else None
        if lims is None:
            lims = display_range([volume], look.normalization)
        shown, label = normalize(volume, look.normalization, limits=lims)
        arranged = arrange(shown, order, fill=signed_fill(look))
        view = arranged_view(arranged, look, lims, name, f"display: {label}", bar_below=True)
        # One bar for the shared range (first panel), one per panel otherwise; the difference
        # panel always has its own diverging bar.
        if look is style and limits is not None and i > 0:
            view.volumes[0] = dataclasses.replace(view.volumes[0], bar=None)
        views.append(view)
    return views
