"""Channel orderings in scenes: show slices permuted, with gaps or colour bands between
clusters, and map every displayed slice back to its original channel.

Data is never stored reordered: a :class:`ChannelOrder` is applied at display time only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyvista as pv

from volviz.errors import VolvizError

# Categorical colours for cluster bands (matplotlib's tab10).
BAND_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


@dataclass(frozen=True)
class ChannelOrder:
    """A permutation of channels, as ``ordering`` estimators and the store give it.

    Parameters
    ----------
    order : ndarray of shape (C,)
        ``order[i]`` is the original channel shown at position ``i``.
    boundaries : ndarray of shape (k,), optional
        Positions where a new cluster starts (separators).
    name : str
        What to call it in titles.
    """

    order: np.ndarray
    boundaries: np.ndarray | None = None
    name: str = "ordering"

    def __post_init__(self) -> None:
        order = np.asarray(self.order)
        n = order.size
        if order.ndim != 1 or not np.array_equal(np.sort(order), np.arange(n)):
            msg = f"ordering {self.name!r} is not a permutation of 0..{n - 1}"
            raise VolvizError(msg)
        object.__setattr__(self, "order", order.astype(np.int64))
        if self.boundaries is not None:
            b = np.unique(np.asarray(self.boundaries, dtype=np.int64))
            if b.size and (b[0] < 0 or b[-1] > n):
                msg = f"ordering {self.name!r} has boundaries outside 0..{n}: {b.tolist()}"
                raise VolvizError(msg)
            object.__setattr__(self, "boundaries", b[(b > 0) & (b < n)])


@dataclass(frozen=True)
class Arranged:
    """A display volume and which original channel each of its slices shows.

    Attributes
    ----------
    volume : ndarray of shape (D, H, W)
        Slices in display order; D = C + gaps.
    channel_at : ndarray of shape (D,)
        Original channel of each displayed slice; -1 for a gap slice.
    clusters : tuple of (start, stop)
        Displayed slice range of each cluster.
    axis_title : str
        Title for the z axis.
    """

    volume: np.ndarray
    channel_at: np.ndarray
    clusters: tuple[tuple[int, int], ...] = field(default=())
    axis_title: str = "channel"

    def original_channel(self, z: int) -> int | None:
        """Original channel index of displayed slice ``z`` (``None`` in a gap/outside)."""
        if not 0 <= z < self.channel_at.size:
            return None
        channel = int(self.channel_at[z])
        return None if channel < 0 else channel

    def slice_of(self, channel: int) -> int:
        """Displayed slice that shows original ``channel``."""
        hits = np.flatnonzero(self.channel_at == channel)
        if not hits.size:
            msg = f"is not in 0..{int(self.channel_at.max())}"
            raise VolvizError(msg, param="channel", value=channel)
        return int(hits[0])


def arrange(
    volume: np.ndarray, order: ChannelOrder | None = None, *, gap: int = 0, fill: float = 0.0
) -> Arranged:
    """Permute the channels of ``volume`` (C, H, W) by ``order`` and put ``gap`` slices of
    ``fill`` (a transparent display value) between its clusters."""
    c = volume.shape[0]
    if order is None:
        return Arranged(volume, np.arange(c, dtype=np.int64), ((0, c),))
    if order.order.size != c:
        msg = f"ordering {order.name!r} has {order.order.size} channels, the volume has {c}"
        raise VolvizError(msg)
    if gap < 0:
        raise VolvizError("must be >= 0", param="gap", value=gap)
    starts = [0, *(order.boundaries.tolist() if order.boundaries is not None else []), c]
    pieces, channels, clusters, pos = [], [], [], 0
    blank = np.full((gap, *volume.shape[1:]), fill, dtype=volume.dtype)
    for k, (a, b) in enumerate(itertools.pairwise(starts)):
        if k and gap:
            pieces.append(blank)
            channels.append(np.full(gap, -1, dtype=np.int64))
            pos += gap
        pieces.append(volume[order.order[a:b]])
        channels.append(order.order[a:b])
        clusters.append((pos, pos + b - a))
        pos += b - a
    return Arranged(
        np.ascontiguousarray(np.concatenate(pieces)),
        np.concatenate(channels),
        tuple(clusters),
        f"position ({order.name})",
    )


def band_meshes(
    arranged: Arranged, grid: pv.ImageData, *, colours: Sequence[str] = BAND_COLOURS
) -> list[tuple[pv.PolyData, str]]:
    """One thin slab per cluster beside the volume (at negative x), spanning its slices."""
    x0, x1, y0, y1, z0, _ = grid.bounds
    dz = grid.spacing[2]
    width = x1 - x0
    out = []
    for k, (start, stop) in enumerate(arranged.clusters):
        bounds = (
            x0 - 0.08 * width,
            x0 - 0.03 * width,
            y0,
            y1,
            z0 + (start - 0.5) * dz,
            z0 + (stop - 0.5) * dz,
        )
        out.append((pv.Box(bounds=bounds), colours[k % len(colours)]))
    return out
