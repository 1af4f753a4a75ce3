"""One layer's pictures and statistics for the report, as work for a process pool.

The main process reads from the store what a layer needs (the shown volume, a stored
ordering or statistics, and for small stores the activations) into a :class:`LayerJob`;
:func:`pictures` and :func:`statistics` compute and write the files, each in a worker
process, so the two halves of the slowest layer (its ordering and its correlation
seriation) run on two cores. Both return what the page shows, nothing is computed twice.

Imported by the caller (for :class:`LayerJob`) and by the worker processes, so the heavy
modules (VTK, matplotlib, scikit-learn) are imported where they are used: the forkserver
preloads them for the workers (``pool.PRELOAD``), the caller never needs them. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import exporters

if TYPE_CHECKING:
    from volviz.analysis.stats import LayerStats

REPORT_WINDOW = (640, 480)
# Kicks of the report's own ``best`` seriations (the volume's channel order and the
# correlation matrix's): paths within 0.2% of the full search's on the demo store's 6 report
# layers, in 2.4 s of CPU for the 12 fits instead of 6.2 s (``volviz order`` runs the full
# search and stores it).
REPORT_KICKS = 300
Figure = tuple[str, str]  # (caption, file name)


@dataclass
class LayerJob:
    """What the workers need to know about one layer; built from the store by the caller.

    Attributes
    ----------
    layer, slug : str
        Store key and its file-name form.
    index : int
        The image shown.
    volume : ndarray of shape (C, H, W)
        That image's activations.
    order : (ndarray, str) or None
        A stored ordering and its name; None: fit ``best`` on ``volume``.
    stats : LayerStats or None
        Stored statistics; None: computed from ``activations`` (or the store).
    activations : ndarray of shape (N, C, H, W) or None
        All images' activations when read up front; None: the worker reads ``store_path``.
    """

    layer: str
    slug: str
    index: int
    store_path: str
    volume: np.ndarray
    order: tuple[np.ndarray, str] | None = None
    stats: LayerStats | None = None
    activations: np.ndarray | None = None
    render: bool = True

    @property
    def cost(self) -> int:
        """Rough work: the seriations grow with the square of the channel count."""
        return int(self.volume.shape[0]) ** 2


def pictures(job: LayerJob, folder: Path) -> tuple[str, list[Figure], list[Figure]]:
    """3D stills (original and ordered), the feature-map grid, the histogram, voxel files.

    Returns
    -------
    order_shown : str
        The ordering for the statistics table: a stored one's name, or for the report's own
        fit how far it searched.
    figures : list of (caption, file)
    links : list of (label, file)
    """
    from volviz.render.still import render_still
    from volviz.report import plots

    volume, layer, slug = job.volume, job.layer, job.slug
    order, order_name = job.order if job.order is not None else fit_order(volume)
    figures: list[Figure] = []
    if job.render:
        for label, tag, vol in (
            ("original order", "orig", volume),
            (f"ordered ({order_name})", "ordered", volume[order]),
        ):
            name = f"{slug}_3d_{tag}.png"
            render_still(vol, folder / name, title=f"{layer}  {label}", window_size=REPORT_WINDOW)
            figures.append((f"3D volume, {label}", name))
    grid = f"{slug}_maps.png"
    exporters.feature_grid(folder / grid, volume, order=order, layer=layer, image=str(job.index))
    figures.append((f"feature maps in {order_name} order (labels: original channel)", grid))
    plots.histogram_png(folder / f"{slug}_hist.png", volume, f"{layer}: activation values")
    figures.append(("activation histogram (this image)", f"{slug}_hist.png"))
    meta = {"volviz_layer": layer, "volviz_image": str(job.index), "volviz_normalization": "none"}
    links: list[Figure] = []
    for fmt in ("vti", "nrrd"):
        exporters.write_volume(folder / f"{slug}.{fmt}", volume, metadata=meta)
        links.append((f"{fmt.upper()} volume (raw values, original order)", f"{slug}.{fmt}"))
    shown = order_name
    if job.order is None and order_name == "best":
        shown = f"best, {REPORT_KICKS} kicks (volviz order stores the full search)"
    return shown, figures, links


def statistics(job: LayerJob, folder: Path) -> tuple[LayerStats, list[Figure]]:
    """Statistics over all images (stored, or computed with the seriated correlation),
    the per-channel plot and the correlation matrix."""
    from volviz.report import plots

    stats = job.stats if job.stats is not None else _compute_stats(job)
    layer, slug = job.layer, job.slug
    plots.channel_stats_png(
        folder / f"{slug}_channels.png", stats.mean, stats.maximum, f"{layer}: per channel"
    )
    plots.correlation_png(
        folder / f"{slug}_corr.png", stats.correlation, stats.correlation_order, layer
    )
    return stats, [
        ("per-channel mean and max (all images)", f"{slug}_channels.png"),
        ("channel correlation, seriated", f"{slug}_corr.png"),
    ]


def fit_order(volume: np.ndarray) -> tuple[np.ndarray, str]:
    """``best`` with ``REPORT_KICKS`` kicks, fitted on the shown volume (identity below 3
    channels)."""
    if volume.shape[0] < 3:
        return np.arange(volume.shape[0]), "original"
    import ordering

    est = ordering.fit_order(volume, "best", n_kicks=REPORT_KICKS)
    return np.asarray(est.order_), "best"


def _compute_stats(job: LayerJob) -> LayerStats:
    from volviz.analysis.stats import layer_stats

    if job.activations is not None:
        return layer_stats(job.activations, job.layer, n_kicks=REPORT_KICKS)
    from volviz.store import Store

    with Store(job.store_path) as store:
        return layer_stats(store.activations(job.layer), job.layer, n_kicks=REPORT_KICKS)


def still(volume: np.ndarray, path: Path, title: str, **style: Any) -> Path:
    """One volume still (for callers that queue stills beside the report's work)."""
    from volviz.render.still import render_still

    return render_still(volume, path, title=title, **style)
