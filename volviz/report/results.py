"""The report's research sections: weight gradients with filter importance, class
comparisons, 2D attributions over the input images, and an interactive 3D page.

Each part appears only when the store holds it (``volviz gradients``, ``volviz compare``,
``volviz attribute``); the report never recomputes anything that needs the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from volviz.report.templates import render
from volviz.store.results import (
    attribution_runs,
    gradient_runs,
    importance_reports,
    read_attribution,
    read_gradient_run,
)
from volviz.store.schema import members, read_attrs

TOP = 5


def gradients_section(store: Any, folder: Path) -> str:
    """Per gradient run and layer: the summed gradient as a grid and the filter ranking."""
    import exporters

    runs = []
    for run in gradient_runs(store.file):
        data = read_gradient_run(store.file, run)
        attrs = data["attrs"]
        label = str(attrs.get("target_label", attrs.get("target", "")))
        layers = []
        for layer, entry in data["layers"].items():
            name = f"grad_{_slug(run)}_{_slug(layer)}.png"
            exporters.gradient_grid(folder / name, entry["sum"], layer=layer, target=label)
            top, bottom = _importance(entry.get("per_image"), entry["sum"])
            caption = f"{layer}: d score / d weights, summed over images"
            layers.append({"src": name, "caption": caption, "top": top, "bottom": bottom})
        runs.append(
            {
                "name": run,
                "label": label,
                "score": str(attrs.get("score", "")),
                "n_images": attrs.get("n_images", "?"),
                "strategy": str(attrs.get("strategy", "")),
                "layers": layers,
            }
        )
    return render("gradients", runs=runs) if runs else ""


def _importance(per_image: np.ndarray | None, total: np.ndarray) -> tuple[str, str]:
    """The ``TOP`` most and least important filters with their norms, as text."""
    if per_image is not None:
        flat = np.asarray(per_image, dtype=np.float64).reshape(*per_image.shape[:2], -1)
        norms = np.linalg.norm(flat, axis=2).mean(axis=0)
    else:
        norms = np.linalg.norm(np.asarray(total, dtype=np.float64).reshape(len(total), -1), axis=1)
    order = np.argsort(-norms, kind="stable")
    top = ", ".join(f"{int(i)} ({norms[i]:.3g})" for i in order[:TOP])
    bottom = ", ".join(f"{int(i)} ({norms[i]:.3g})" for i in order[::-1][:TOP])
    return top, bottom


def importance_section(store: Any) -> str:
    """Stored pruning checks: does removing the most important filters hurt the class most?"""
    reports = []
    for name, rep in importance_reports(store.file).items():
        rows = [
            (
                str(row.get("removed", "")),
                ",".join(str(f) for f in row.get("filters", [])[:8]),
                f"{row.get('score', float('nan')):.4f}",
                f"{row.get('score_change', 0.0):+.4f}",
                f"{row.get('top1', float('nan')):.3f}",
                f"{row.get('top1_change', 0.0):+.3f}",
            )
            for row in rep.get("pruning", [])
        ]
        reports.append(
            {
                "name": name,
                "layer": str(rep.get("layer", "")),
                "target": str(rep.get("target", "")),
                "images": ", ".join(rep.get("image_names", [])) or str(rep.get("images", "")),
                "rows": rows,
            }
        )
    return render("importance", reports=reports) if reports else ""


def comparisons_section(store: Any) -> str:
    """Cosine similarity and norm ratios between reference, similar and dissimilar classes."""
    group = store.file.get("comparisons")
    if group is None:
        return ""
    runs = []
    for name in members(group):
        attrs = read_attrs(group[name])
        tables = [
            (layer, *_pairs_rows(table)) for layer, table in (attrs.get("table") or {}).items()
        ]
        runs.append({"name": name, "label": str(attrs.get("target_label", "")), "tables": tables})
    return render("comparisons", runs=runs)


Row = tuple[str, str, str, str]


def _pairs_rows(table: dict[str, Any]) -> tuple[list[Row], list[Row]]:
    roles = [
        (str(r["role"]), str(r["images"]), f"{r['mean_image_norm']:.4g}", f"{r['mean_norm']:.4g}")
        for r in table.get("roles", [])
    ]
    pairs = [
        (
            f"{p['a']} / {p['b']}",
            f"{p['cosine']:.3f}",
            f"{p['image_norm_ratio']:.3f}",
            f"{p['mean_norm_ratio']:.3f}",
        )
        for p in table.get("pairs", [])
    ]
    return roles, pairs


def attributions_section(store: Any, folder: Path) -> str:
    """Each attribution map over the image as the model saw it (resized and cropped)."""
    import exporters

    figures = []
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
            figures.append((name, f"{run}: {names[int(row)]}"))
    return render("attributions", figures=figures) if figures else ""


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
    from volviz.render.volume import volume_view

    name = f"{_slug(layer)}_3d.html"
    write_html(volume_view(volume, title=layer), folder / name)
    return name


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_") or "x"
