"""The report's research sections: weight gradients with filter importance, class
comparisons, 2D attributions over the input images, and an interactive 3D page.

Each part appears only when the store holds it (``volviz gradients``, ``volviz compare``,
``volviz attribute``); the report never recomputes anything that needs the model.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from volviz.store.results import (
    attribution_runs,
    gradient_runs,
    importance_reports,
    read_attribution,
    read_gradient_run,
)
from volviz.store.schema import members, read_attrs

TOP = 5
e = html.escape


def gradients_section(store: Any, folder: Path) -> str:
    """Per gradient run and layer: the summed gradient as a grid and the filter ranking."""
    import exporters

    parts = []
    for run in gradient_runs(store.file):
        data = read_gradient_run(store.file, run)
        attrs = data["attrs"]
        label = str(attrs.get("target_label", attrs.get("target", "")))
        parts.append(
            f"<h3>gradient run <code>{e(run)}</code></h3><p>target {e(label)}, score "
            f"{e(str(attrs.get('score', '')))}, {attrs.get('n_images', '?')} images, "
            f"strategy {e(str(attrs.get('strategy', '')))}</p>"
        )
        for layer, entry in data["layers"].items():
            name = f"grad_{_slug(run)}_{_slug(layer)}.png"
            exporters.gradient_grid(folder / name, entry["sum"], layer=layer, target=label)
            parts.append(_figure(name, f"{layer}: d score / d weights, summed over images"))
            parts.append(_importance_table(entry.get("per_image"), entry["sum"]))
    if not parts:
        return ""
    head = (
        "<h2>Weight gradients</h2><p>Filter importance is each filter's gradient L2 norm "
        "(mean over images when per-image gradients are stored), as CNN-VIS ranked conv1. "
        "The pruning check needs the model: <code>volviz importance IMAGES -l LAYER</code>.</p>"
    )
    return head + "\n".join(parts)


def _importance_table(per_image: np.ndarray | None, total: np.ndarray) -> str:
    if per_image is not None:
        flat = np.asarray(per_image, dtype=np.float64).reshape(*per_image.shape[:2], -1)
        norms = np.linalg.norm(flat, axis=2).mean(axis=0)
    else:
        norms = np.linalg.norm(np.asarray(total, dtype=np.float64).reshape(len(total), -1), axis=1)
    order = np.argsort(-norms, kind="stable")
    top = ", ".join(f"{int(i)} ({norms[i]:.3g})" for i in order[:TOP])
    bottom = ", ".join(f"{int(i)} ({norms[i]:.3g})" for i in order[::-1][:TOP])
    return (
        "<table><tr><th>most important filters</th><td>"
        f"{e(top)}</td></tr><tr><th>least important filters</th><td>{e(bottom)}</td></tr></table>"
    )


def importance_section(store: Any) -> str:
    """Stored pruning checks: does removing the most important filters hurt the class most?"""
    reports = importance_reports(store.file)
    if not reports:
        return ""
    parts = [
        "<h2>Filter importance and pruning check</h2><p>Filters ranked by gradient norm; "
        "the k most and the k least important are zeroed (then restored) and the target "
        "score and top-1 accuracy over the images are measured again.</p>"
    ]
    for name, rep in reports.items():
        images = ", ".join(rep.get("image_names", [])) or str(rep.get("images", ""))
        parts.append(
            f"<h3><code>{e(name)}</code>: {e(str(rep.get('layer', '')))}, "
            f"{e(str(rep.get('target', '')))}, images {e(images)}</h3>"
        )
        rows = [
            "<tr><th>removed</th><th>filters</th><th>mean score</th><th>change</th>"
            "<th>top-1</th><th>change</th></tr>"
        ]
        for row in rep.get("pruning", []):
            filters = ",".join(str(f) for f in row.get("filters", [])[:8])
            rows.append(
                f"<tr><td>{e(str(row.get('removed', '')))}</td><td>{e(filters)}</td>"
                f"<td>{row.get('score', float('nan')):.4f}</td>"
                f"<td>{row.get('score_change', 0.0):+.4f}</td>"
                f"<td>{row.get('top1', float('nan')):.3f}</td>"
                f"<td>{row.get('top1_change', 0.0):+.3f}</td></tr>"
            )
        parts.append(f"<table>{''.join(rows)}</table>")
    return "\n".join(parts)


def comparisons_section(store: Any) -> str:
    """Cosine similarity and norm ratios between reference, similar and dissimilar classes."""
    group = store.file.get("comparisons")
    if group is None:
        return ""
    parts = ["<h2>Class comparison</h2>"]
    for name in members(group):
        attrs = read_attrs(group[name])
        parts.append(
            f"<h3><code>{e(name)}</code>: target {e(str(attrs.get('target_label', '')))}</h3>"
        )
        for layer, table in (attrs.get("table") or {}).items():
            parts.append(f"<p>{e(layer)}</p>{_pairs_table(table)}")
    return "\n".join(parts)


def _pairs_table(table: dict[str, Any]) -> str:
    rows = ["<tr><th>set</th><th>images</th><th>mean per-image norm</th><th>norm of mean</th></tr>"]
    for r in table.get("roles", []):
        rows.append(
            f"<tr><td>{e(str(r['role']))}</td><td>{r['images']}</td>"
            f"<td>{r['mean_image_norm']:.4g}</td><td>{r['mean_norm']:.4g}</td></tr>"
        )
    rows.append(
        "<tr><th>pair</th><th>cosine</th><th>per-image norm ratio</th><th>mean norm ratio</th></tr>"
    )
    for p in table.get("pairs", []):
        rows.append(
            f"<tr><td>{e(str(p['a']))} / {e(str(p['b']))}</td><td>{p['cosine']:.3f}</td>"
            f"<td>{p['image_norm_ratio']:.3f}</td><td>{p['mean_norm_ratio']:.3f}</td></tr>"
        )
    return f"<table>{''.join(rows)}</table>"


def attributions_section(store: Any, folder: Path) -> str:
    """Each attribution map over the image as the model saw it (resized and cropped)."""
    import exporters

    parts = []
    names = [r["name"] for r in store.inputs]
    for run in attribution_runs(store.file):
        data = read_attribution(store.file, run)
        maps = data.get("maps")
        if maps is None or maps.ndim != 3:
            continue
        rows = data["attrs"].get("images") or list(range(len(maps)))
        for k, row in enumerate(rows[: len(maps)]):
            rgb = _model_view(store, int(row), maps.shape[1:])
            if rgb is None:
                continue
            name = f"attr_{_slug(run)}_{k}.png"
            exporters.heatmap_overlay(
                folder / name,
                maps[k],
                rgb,
                method=str(data["attrs"].get("method", run)),
                image_name=names[int(row)],
                target=str(data["attrs"].get("target_label", "")),
            )
            parts.append(_figure(name, f"{run}: {names[int(row)]}"))
    return "<h2>Attributions</h2>" + "\n".join(parts) if parts else ""


def _model_view(store: Any, row: int, size: tuple[int, ...]) -> np.ndarray | None:
    """The input's pixels resized and center-cropped as the store's preprocessing did."""
    from PIL import Image

    from volviz.capture.inputs import SAMPLE_PREFIX, InputImage

    record = store.inputs[row]
    source = record["source"]
    if not (source.startswith(SAMPLE_PREFIX) or Path(source).is_file()):
        return None
    img = InputImage(source, record["name"]).load()
    pre = store.provenance.get("preprocess") or {}
    resize, crop = int(pre.get("resize", size[0])), int(pre.get("crop", size[0]))
    scale = resize / min(img.size)
    img = img.resize(
        (round(img.width * scale), round(img.height * scale)), Image.Resampling.BILINEAR
    )
    left, top = (img.width - crop) // 2, (img.height - crop) // 2
    img = img.crop((left, top, left + crop, top + crop)).resize((size[1], size[0]))
    return np.asarray(img, dtype=np.uint8)


def interactive_page(volume: np.ndarray, folder: Path, layer: str) -> str:
    """An offline plotly page of one volume; returns its file name."""
    from volviz.render.html import write_html
    from volviz.render.volume import volume_plotter

    name = f"{_slug(layer)}_3d.html"
    write_html(volume_plotter(volume, title=layer), folder / name)
    return name


def _figure(src: str, caption: str) -> str:
    return (
        f"<figure><img src='{e(src)}' alt='{e(caption)}'>"
        f"<figcaption>{e(caption)}</figcaption></figure>"
    )


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_") or "x"
