"""Assemble the report folder: per-layer pictures, statistics, plots and voxel exports.

Everything is written into a temporary folder beside the target (``exporters``' atomic_file)
and renamed into place at the end, so an interrupted run leaves no half-written report. The
layers' pictures and statistics are computed by worker processes (:mod:`volviz.report.pool`).
Pages use relative links only and no scripts or remote resources: the report opens offline.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from exporters._atomic import atomic_file, remove_stale_temporaries
from volviz.errors import VolvizError

if TYPE_CHECKING:
    from volviz.report.layers import LayerJob
    from volviz.report.pool import WorkPool

MAX_DEFAULT_LAYERS = 6


@dataclass
class Section:
    """One layer's part of the report: figures (caption -> file) and links (label -> file)."""

    layer: str
    shape: tuple[int, ...]
    rows: list[tuple[str, str]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)


def default_layers(layers: Sequence[str], n: int = MAX_DEFAULT_LAYERS) -> list[str]:
    """All layers when few; else ``n`` spread evenly from the first to the last."""
    if len(layers) <= n:
        return list(layers)
    picks = np.unique(np.linspace(0, len(layers) - 1, n).round().astype(int))
    return [layers[i] for i in picks]


def build_report(
    store_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    layers: Sequence[str] | None = None,
    image: int | str = 0,
    force: bool = False,
    render: bool = True,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``out_dir/index.html`` and its files for the store at ``store_path``.

    Parameters
    ----------
    layers : sequence of str, optional
        Layers to show; default: all when at most 6, else 6 spread through the network.
    image : int or str
        The image whose volumes, feature maps and voxel files are shown.
    render : bool
        Include 3D screenshots (needs offscreen OpenGL).
    jobs : int, optional
        Worker processes; default: one per core (``pool.default_jobs``); 1: all in
        this process.
    """
    from volviz.report.pool import WorkPool

    with WorkPool(jobs) as pool:
        report = ReportBuild(
            store_path, out_dir, pool, layers=layers, image=image, force=force, render=render
        )
        return report.finish(progress)


class ReportBuild:
    """A report being written: the constructor reads what the layers need from the store and
    queues their work on ``pool``; :meth:`finish` adds the store's other sections, waits and
    moves the folder into place. Between the two the store is closed, so another writer
    (the demo's research steps) may add to it; with ``read_all`` the workers never open it.
    """

    def __init__(
        self,
        store_path: str | os.PathLike[str],
        out_dir: str | os.PathLike[str],
        pool: WorkPool,
        *,
        layers: Sequence[str] | None = None,
        image: int | str = 0,
        force: bool = False,
        render: bool = True,
        read_all: bool = False,
    ) -> None:
        from volviz.analysis.stats import prefer_post
        from volviz.store import Store

        self.store_path, self.target, self.pool = Path(store_path), Path(out_dir), pool
        if self.target.exists() and not force:
            msg = "exists; pass {force} to replace it"
            raise VolvizError(msg, param="out_dir", value=self.target, refs={"force": True})
        # The one write-then-rename (exporters' atomic_file), held open until finish().
        self._atomic = ExitStack()
        remove_stale_temporaries(self.target)
        self.tmp = self._atomic.enter_context(atomic_file(self.target))
        try:
            self.tmp.mkdir(parents=True)
            with Store(store_path) as store:
                chosen = list(layers) if layers else default_layers(prefer_post(store.layers))
                for layer in chosen:
                    store.layer_group(layer)
                self.index = store.image_index(image)
                jobs = [_job(store, layer, self.index, render, read_all) for layer in chosen]
            self.layers = chosen
            self.shapes = [tuple(job.volume.shape) for job in jobs]
            self.futures = _queue(pool, jobs, self.tmp)
            self.page_future = None
            if render and jobs:
                from volviz.report.results import interactive_page

                first, tmp = jobs[0], self.tmp
                self.page_future = pool.submit(interactive_page, first.volume, tmp, first.layer)
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())
            raise

    def __enter__(self) -> ReportBuild:
        return self

    def __exit__(self, *exc: Any) -> None:
        """Without :meth:`finish` (an error in between): remove the temporary folder."""
        if exc[0] is None:  # left without finish(): nothing may be renamed into place
            error = VolvizError("report not finished")
            exc = (VolvizError, error, None)
        self._atomic.__exit__(*exc)

    def finish(self, progress: Callable[[int, int], None] | None = None) -> Path:
        """Write the store's other sections and the page; wait for the layers; rename."""
        from volviz.report import results
        from volviz.report.similarity import similarity_section
        from volviz.report.timeline import time_section
        from volviz.store import Store

        tmp = self.tmp
        try:
            with Store(self.store_path) as store:
                extras = "\n".join(
                    (
                        results.gradients_section(store, tmp),
                        results.importance_section(store),
                        results.comparisons_section(store),
                        results.attributions_section(store, tmp),
                        similarity_section(store, tmp),  # CKA (volviz similarity)
                    )
                )
                timeline = time_section(store, self.layers, tmp)
                sections = self._sections(store, progress)
                page = _page(store, self.index, sections, timeline, extras)
            (tmp / "index.html").write_text(page, encoding="utf-8")
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())
            raise
        self._atomic.close()  # renames the folder into place
        return self.target / "index.html"

    def _sections(self, store: Any, progress: Callable[[int, int], None] | None) -> list[Section]:
        from volviz.report.pool import outcome

        sections = []
        work = zip(self.layers, self.shapes, self.futures, strict=True)
        for done, (layer, shape, (pics, stats)) in enumerate(work, start=1):
            order_shown, figures, links = outcome(pics)
            layer_stats, stat_figures = outcome(stats)
            section = Section(layer, shape)
            section.rows = _stat_rows(layer_stats, store, order_shown)
            section.figures = figures + stat_figures
            section.links = links
            sections.append(section)
            if progress:
                progress(done, len(self.layers))
        if self.page_future is not None and sections:
            name = outcome(self.page_future)
            sections[0].links.append(("interactive 3D page (offline, plotly)", name))
        return sections


def _job(store: Any, layer: str, index: int, render: bool, read_all: bool) -> LayerJob:
    """What the workers need about ``layer``, read from the store here."""
    from volviz.report.layers import LayerJob
    from volviz.store.analysis import analyzed_layers, load_stats

    names = store.orderings(layer)
    order = None
    if names:
        name = "best" if "best" in names else names[0]
        order = (store.ordering(layer, name).order, name)
    stats = load_stats(store, layer) if layer in analyzed_layers(store) else None
    slug = "".join(ch if ch.isalnum() else "_" for ch in layer).strip("_") or "layer"
    return LayerJob(
        layer=layer,
        slug=slug,
        index=index,
        store_path=str(store.path),
        volume=store.volume(layer, index),
        order=order,
        stats=stats,
        activations=store.activations(layer)[...] if read_all and stats is None else None,
        render=render,
    )


def _queue(pool: WorkPool, jobs: list[LayerJob], folder: Path) -> list[tuple[Future[Any], ...]]:
    """Queue every layer's two halves, the slowest layers first; futures in layer order."""
    from volviz.report.layers import pictures, statistics

    futures: dict[int, tuple[Future[Any], ...]] = {}
    for i in sorted(range(len(jobs)), key=lambda i: -jobs[i].cost):
        job = jobs[i]
        futures[i] = (pool.submit(pictures, job, folder), pool.submit(statistics, job, folder))
    return [futures[i] for i in range(len(jobs))]


def _stat_rows(stats: Any, store: Any, order_shown: str) -> list[tuple[str, str]]:
    from volviz.analysis.stats import describe_stage

    names = [r["name"] for r in store.inputs]
    best = int(np.argmax(stats.top_value[:, 0]))
    top = ", ".join(
        f"{names[i]} ({stats.top_value[best, j]:.3g} at row {stats.top_row[best, j]}, "
        f"col {stats.top_col[best, j]})"
        for j, i in enumerate(stats.top_image[best])
    )
    c = len(stats.mean)
    off = float(np.abs(stats.correlation[~np.eye(c, dtype=bool)]).mean()) if c > 1 else 0.0
    return [
        ("stage (which tensor)", describe_stage(store.layer_group(stats.layer).attrs)),
        ("images", str(stats.n_images)),
        ("sparsity (values <= 0)", f"{stats.sparsity:.1%}"),
        ("dead channels (never > 0)", _list(stats.dead)),
        ("always-on channels (> 0 everywhere)", _list(stats.always_on)),
        ("mean |correlation| between channels", f"{off:.3f}"),
        (f"strongest channel: {best}, top images", top),
        ("ordering shown", order_shown),
    ]


def _list(values: np.ndarray, limit: int = 20) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    more = f" ... ({len(values)} in all)" if len(values) > limit else ""
    return f"{len(values)}: {shown}{more}" if len(values) else "0"


def _page(
    store: Any, index: int, sections: list[Section], timeline: str = "", extras: str = ""
) -> str:
    from markupsafe import Markup

    from volviz.report.templates import render

    prov = store.provenance
    return render(
        "page",
        name=store.path.name,
        model=str(prov.get("model", "")),
        weights=str(prov.get("weights", "")),
        n_images=store.n_images,
        index=index,
        image=store.inputs[index]["name"],
        written=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        predictions=_predictions(store),
        # Built by the sections' own code (timeline.py, results.py), escaped there.
        timeline=Markup(timeline),
        extras=Markup(extras),
        sections=sections,
    )


def _predictions(store: Any) -> list[tuple[int, str, str]]:
    """Rows of (index, image name, top-5 text); empty when the store has no predictions."""
    preds = store.predictions()
    if preds is None:
        return []
    names = preds.get("class_names")
    rows = []
    for i, record in enumerate(store.inputs):
        top = ", ".join(
            f"{int(c)} {names[int(c)] if names is not None else ''} ({p:.2f})"
            for c, p in zip(preds["top_index"][i], preds["top_prob"][i], strict=True)
        )
        rows.append((i, record["name"], top))
    return rows
