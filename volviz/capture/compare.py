"""CNN-VIS's class comparison: one class score's weight gradients for three image sets.

The gradient of ONE target is taken for the images of a reference, a similar and a
dissimilar class; the mean gradients are compared pairwise (cosine similarity, norm
ratios) and their differences stored beside the three gradient runs.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from volviz.capture.gradients import GradientResult, weight_gradients
from volviz.capture.hooks import eval_mode
from volviz.capture.importance import compare_table
from volviz.capture.models import LoadedModel
from volviz.capture.runs import Batch, add_group, gradient_filler, result_store, run_attrs
from volviz.capture.targets import Target, parse_target

ROLES = ("reference", "similar", "dissimilar")
PAIRS = tuple((a, b) for i, a in enumerate(ROLES) for b in ROLES[i + 1 :])


@dataclass
class Comparison:
    """Gradient runs per role, pairwise differences of their means, and the statistics.

    Attributes
    ----------
    results : dict of role to GradientResult
    differences : dict of layer to dict of ``"a-minus-b"`` to ndarray (O, I, kh, kw)
    tables : dict of layer to ``compare_table`` output
    """

    target: Target
    results: dict[str, GradientResult]
    differences: dict[str, dict[str, np.ndarray]]
    tables: dict[str, dict[str, list[dict[str, Any]]]]


def majority_target(loaded: LoadedModel, x: torch.Tensor, score: str) -> Target:
    """The class most of ``x`` is predicted as (ties: the lowest index)."""
    with eval_mode(loaded.module), torch.no_grad():
        top = loaded.module(x.to(loaded.device)).argmax(dim=1).tolist()
    counts = collections.Counter(top)
    best = max(counts.values())
    cls = min(c for c, k in counts.items() if k == best)
    return parse_target(str(cls), loaded.class_names, score=score)


def compare_classes(
    loaded: LoadedModel,
    images: Mapping[str, torch.Tensor],
    layers: Sequence[str],
    target: Target,
    *,
    strategy: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Per-image gradients of ``target`` for each role's images, compared pairwise.

    Parameters
    ----------
    images : dict of role to Tensor of shape (N_role, 3, H, W)
        Keys ``reference``, ``similar``, ``dissimilar``.
    """
    results = {
        role: weight_gradients(
            loaded.module,
            images[role].to(loaded.device),
            layers,
            target,
            strategy=strategy,
            progress=progress,
        )
        for role in ROLES
    }
    names = results[ROLES[0]].layers
    differences = {
        layer: {f"{a}-minus-{b}": results[a].mean[layer] - results[b].mean[layer] for a, b in PAIRS}
        for layer in names
    }
    tables = {
        layer: compare_table(
            {r: _per_image(results[r], layer) for r in ROLES},
            {r: results[r].mean[layer] for r in ROLES},
        )
        for layer in names
    }
    return Comparison(target, results, differences, tables)


def _per_image(result: GradientResult, layer: str) -> np.ndarray:
    assert result.per_image is not None
    return result.per_image[layer]


def write_comparison(
    out: str | os.PathLike[str],
    loaded: LoadedModel,
    batches: Mapping[str, Batch],
    comparison: Comparison,
    *,
    name: str = "compare",
    force: bool = False,
    command: str = "",
) -> None:
    """A new store: all images, a gradient run per role, and ``/comparisons/<name>``."""
    from volviz.store.results import fill_comparison

    target, results = comparison.target, comparison.results
    everything = Batch(
        torch.cat([batches[r].x for r in ROLES]),
        [rec for r in ROLES for rec in batches[r].records],
        [img for r in ROLES for img in batches[r].rgb],
    )
    logits = np.concatenate([results[r].logits for r in ROLES])
    with result_store(
        out, loaded, everything, logits, append=False, force=force, command=command
    ) as (handle, rows):
        start = 0
        common = {
            "target": target.as_json(loaded.class_names),
            "target_label": target.describe(loaded.class_names),
            "score": target.score,
        }
        for role in ROLES:
            res = results[role]
            own = rows[start : start + len(res.logits)]
            start += len(res.logits)
            attrs = run_attrs(loaded, own, **common, strategy=res.strategy, role=role)
            fill = gradient_filler(loaded, res, own, attrs)
            add_group(handle, "gradients", f"{name}-{role}", "gradient-run", fill, force=True)
        runs = {r: f"/gradients/{name}-{r}" for r in ROLES}
        attrs = run_attrs(loaded, rows, **common, runs=runs, table=comparison.tables)
        fill = partial(fill_comparison, differences=comparison.differences, attrs=attrs)
        add_group(handle, "comparisons", name, "comparison", fill, force=True)
