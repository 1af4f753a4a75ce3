"""Assemble the report folder: per-layer pictures, statistics, plots and voxel exports.

Everything is written into a temporary folder beside the target and renamed into place at
the end, so an interrupted run leaves no half-written report. Pages use relative links only
and no scripts or remote resources: the report opens offline.
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from volviz.errors import VolvizError

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
    """
    from volviz.analysis.stats import prefer_post
    from volviz.report import results
    from volviz.report.similarity import similarity_section
    from volviz.report.timeline import time_section
    from volviz.store import Store

    target = Path(out_dir)
    if target.exists() and not force:
        msg = f"--out {str(target)!r} exists; pass --force to replace it"
        raise VolvizError(msg)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with Store(store_path) as store:
            chosen = list(layers) if layers else default_layers(prefer_post(store.layers))
            for layer in chosen:
                store.layer_group(layer)
            index = store.image_index(image)
            sections = []
            for done, layer in enumerate(chosen, start=1):
                sections.append(_layer_section(store, layer, index, tmp, render=render))
                if progress:
                    progress(done, len(chosen))
            if render and sections:
                first = sections[0]
                page_name = results.interactive_page(
                    store.volume(first.layer, index), tmp, first.layer
                )
                first.links.append(("interactive 3D page (offline, plotly)", page_name))
            extras = "\n".join(
                (
                    results.gradients_section(store, tmp),
                    results.importance_section(store),
                    results.comparisons_section(store),
                    results.attributions_section(store, tmp),
                    similarity_section(store, tmp),  # CKA (volviz similarity)
                )
            )
            page = _page(store, index, sections, time_section(store, chosen, tmp), extras)
        (tmp / "index.html").write_text(page, encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / "index.html"


def _layer_section(store: Any, layer: str, index: int, folder: Path, *, render: bool) -> Section:
    import exporters
    from volviz.report import plots

    volume = store.volume(layer, index)
    stats = _stats(store, layer)
    order, order_name = _order(store, layer, volume)
    slug = "".join(ch if ch.isalnum() else "_" for ch in layer).strip("_") or "layer"
    section = Section(layer, tuple(volume.shape))
    section.rows = _stat_rows(stats, store, order_name)
    if render:
        for label, vol in (("original order", volume), (f"ordered ({order_name})", volume[order])):
            name = f"{slug}_3d_{'orig' if label.startswith('orig') else 'ordered'}.png"
            _screenshot(vol, folder / name, f"{layer}  {label}")
            section.figures.append((f"3D volume, {label}", name))
    grid = f"{slug}_maps.png"
    exporters.feature_grid(folder / grid, volume, order=order, layer=layer, image=str(index))
    section.figures.append((f"feature maps in {order_name} order (labels: original channel)", grid))
    plots.histogram_png(folder / f"{slug}_hist.png", volume, f"{layer}: activation values")
    section.figures.append(("activation histogram (this image)", f"{slug}_hist.png"))
    plots.channel_stats_png(
        folder / f"{slug}_channels.png", stats.mean, stats.maximum, f"{layer}: per channel"
    )
    section.figures.append(("per-channel mean and max (all images)", f"{slug}_channels.png"))
    plots.correlation_png(
        folder / f"{slug}_corr.png", stats.correlation, stats.correlation_order, layer
    )
    section.figures.append(("channel correlation, seriated", f"{slug}_corr.png"))
    meta = {"volviz_layer": layer, "volviz_image": str(index), "volviz_normalization": "none"}
    for fmt in ("vti", "nrrd"):
        exporters.write_volume(folder / f"{slug}.{fmt}", volume, metadata=meta)
        section.links.append(
            (f"{fmt.upper()} volume (raw values, original order)", f"{slug}.{fmt}")
        )
    return section


def _stats(store: Any, layer: str) -> Any:
    from volviz.analysis.stats import layer_stats
    from volviz.store.analysis import analyzed_layers, load_stats

    if layer in analyzed_layers(store):
        return load_stats(store, layer)
    return layer_stats(store.activations(layer), layer)


def _order(store: Any, layer: str, volume: np.ndarray) -> tuple[np.ndarray, str]:
    """A stored ordering when there is one (best first), else ``best`` fitted on this volume."""
    names = store.orderings(layer)
    if names:
        name = "best" if "best" in names else names[0]
        return store.ordering(layer, name).order, name
    import ordering

    if volume.shape[0] < 3:
        return np.arange(volume.shape[0]), "original"
    return np.asarray(ordering.fit_order(volume, "best").order_), "best"


def _screenshot(volume: np.ndarray, path: Path, title: str) -> None:
    from volviz.render.volume import save_screenshot, volume_plotter

    save_screenshot(volume_plotter(volume, title=title, window_size=(640, 480)), path)


def _stat_rows(stats: Any, store: Any, order_name: str) -> list[tuple[str, str]]:
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
        ("ordering shown", order_name),
    ]


def _list(values: np.ndarray, limit: int = 20) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    more = f" ... ({len(values)} in all)" if len(values) > limit else ""
    return f"{len(values)}: {shown}{more}" if len(values) else "0"


CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:.25em .6em;
font-size:.9em;text-align:left} figure{display:inline-block;margin:.5em;vertical-align:top}
figure img{max-width:560px;border:1px solid #eee} figcaption{font-size:.85em;color:#555}
code{background:#f4f4f4;padding:0 .2em} h3{margin-top:1.2em}
"""


def _page(
    store: Any, index: int, sections: list[Section], timeline: str = "", extras: str = ""
) -> str:
    e = html.escape
    prov = store.provenance
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>volviz report: {e(store.path.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>volviz report: <code>{e(store.path.name)}</code></h1>",
        f"<p>model <b>{e(str(prov.get('model', '')))}</b>, "
        f"weights {e(str(prov.get('weights', '')))}"
        f"; {store.n_images} images; shown: image {index} "
        f"(<b>{e(store.inputs[index]['name'])}</b>). Written "
        f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}.</p>",
        _predictions_table(store),
        "<p>Axes in every 3D view and voxel file: x = column, y = row, z = channel. "
        "Stored activations are raw; pictures use display normalization.</p>",
        timeline,  # "Training over time", only for stores written by volviz.track
    ]
    for s in sections:
        shape = "x".join(map(str, s.shape))
        parts.append(f"<h2 id='{e(s.layer)}'>{e(s.layer)} <small>({shape})</small></h2>")
        rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in s.rows)
        parts.append(f"<table>{rows}</table>")
        for caption, src in s.figures:
            parts.append(
                f"<figure><img src='{e(src)}' alt='{e(caption)}'>"
                f"<figcaption>{e(caption)}</figcaption></figure>"
            )
        links = " | ".join(f"<a href='{e(href)}'>{e(label)}</a>" for label, href in s.links)
        parts.append(f"<p>Downloads: {links}</p>")
    parts.append(extras)  # gradients, comparisons, attributions, when the store has them
    parts.append("</body></html>")
    return "\n".join(parts)


def _predictions_table(store: Any) -> str:
    preds = store.predictions()
    if preds is None:
        return ""
    e = html.escape
    names = preds.get("class_names")
    rows = []
    for i, record in enumerate(store.inputs):
        top = ", ".join(
            f"{int(c)} {names[int(c)] if names is not None else ''} ({p:.2f})"
            for c, p in zip(preds["top_index"][i], preds["top_prob"][i], strict=True)
        )
        rows.append(f"<tr><td>{i}</td><td>{e(record['name'])}</td><td>{e(top)}</td></tr>")
    head = "<tr><th>#</th><th>image</th><th>top-5 (probability)</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"
