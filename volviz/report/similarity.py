"""CKA pictures: layers x layers and model A x model B heatmaps, per-layer curves over training."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

TICKS = 25  # at most this many tick labels per axis


def short(key: str) -> str:
    """A compact axis label: ``_blocks.3._expand_conv+post`` -> ``b3.expand_conv``."""
    text = key.removesuffix("+post").replace("_blocks.", "b").replace("._", ".")
    return text.lstrip("_")


def heatmap_png(path: Path, result: Any, title: str) -> Path:
    """``result.matrix`` as an image, CKA 0 (dark) to 1 (bright), rows top to bottom."""
    rows, cols = len(result.rows), len(result.cols)
    width = float(np.clip(3.0 + 0.14 * cols, 4.5, 10.0)) + 1.6
    height = float(np.clip(2.0 + 0.14 * rows, 2.6, 9.0)) + 0.8
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(result.matrix, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    ax.set_aspect("auto")
    for axis, labels, setter in (
        ("y", result.rows, ax.set_yticks),
        ("x", result.cols, ax.set_xticks),
    ):
        every = max(1, -(-len(labels) // TICKS))
        ticks = np.arange(0, len(labels), every)
        setter(ticks, [short(labels[i]) for i in ticks], fontsize=6)
        if axis == "x":
            ax.tick_params(axis="x", labelrotation=90)
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8, label=f"CKA ({result.kind})")
    fig.savefig(path)
    return path


def training_png(path: Path, result: Any, title: str) -> Path:
    """CKA of each layer with its final state, over the recorded steps (one line per layer)."""
    fig = Figure(figsize=(6.4, 3.4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    steps = np.asarray(result.steps if result.steps is not None else np.arange(len(result.rows)))
    colors = [
        (0.15 + 0.7 * i / max(1, len(result.cols) - 1), 0.3, 0.6) for i in range(len(result.cols))
    ]
    for j, layer in enumerate(result.cols):
        ax.plot(steps, result.matrix[:, j], color=colors[j], lw=1.2, label=short(layer))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("training step", fontsize=8)
    ax.set_ylabel(f"CKA with the final state ({result.kind})", fontsize=8)
    ax.set_title(title, fontsize=9)
    if len(result.cols) <= 12:
        ax.legend(fontsize=6, ncols=2)
    ax.tick_params(labelsize=7)
    fig.savefig(path)
    return path


def similarity_section(store: Any, folder: Path) -> str:
    """HTML for every result under /analysis/similarity (empty when there is none)."""
    from volviz.analysis.similarity import load_similarity, stored_similarities

    names = stored_similarities(store)
    if not names:
        return ""
    e = html.escape
    parts = [
        "<h2 id='similarity'>Layer similarity (CKA)</h2>",
        "<p>Centered kernel alignment (Kornblith et al. 2019) between whole-layer "
        "representations of the same images: 1 means the layers arrange the images alike "
        "(up to rotation and scale of their features), near 0 unrelated. Unbiased minibatch "
        "estimator (Nguyen et al. 2021): on few images it is noisy and can dip below 0 "
        "(drawn as 0). Layer keys ending in <code>+post</code> are what "
        "the next layer receives (after BN and activation).</p>",
    ]
    for name in names:
        result = load_similarity(store, name)
        png = folder / f"similarity_{name}.png"
        if result.what == "training":
            title = f"each layer vs its final state, {result.n_images} probe images"
            training_png(png, result, title)
        elif result.what == "pair":
            other = result.attrs.get("other_model") or result.attrs.get("other_file", "")
            title = f"{store.provenance.get('model', '')} (rows) x {other} (columns)"
            heatmap_png(png, result, f"{title}, {result.n_images} shared images")
        else:
            title = f"{store.provenance.get('model', '')}: layers x layers"
            heatmap_png(png, result, f"{title}, {result.n_images} images")
        caption = (
            f"{name}: {result.n_images} images, {result.n_batches} minibatch(es) of "
            f"~{result.n_images // result.n_batches}"
        )
        parts.append(
            f"<figure><img src='{e(png.name)}' alt='{e(caption)}'>"
            f"<figcaption>{e(caption)}</figcaption></figure>"
        )
    return "\n".join(parts)
