"""Filter importance from weight gradients, a pruning check, and class comparison statistics.

Importance of filter o for a target (as CNN-VIS ranked conv1 filters): the mean over images
of the L2 norm of that filter's gradient, ``mean_n ||dS_n / dW[o]||``. Per-image norms are
averaged (not the norm of the summed gradient) so that images pulling a filter in opposite
directions do not cancel out.

The pruning check zeroes the k most (or least) important filters, measures the target's
mean score and the top-1 accuracy over the images, and restores the weights, also on errors.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from volviz.capture.hooks import eval_mode
from volviz.capture.targets import Target


def filter_importance(per_image: np.ndarray) -> np.ndarray:
    """Mean over images of each filter's gradient L2 norm.

    Parameters
    ----------
    per_image : ndarray of shape (N, O, I, kh, kw)

    Returns
    -------
    ndarray of shape (O,), float64
    """
    g = np.asarray(per_image, dtype=np.float64)
    return np.sqrt(np.square(g).sum(axis=(2, 3, 4))).mean(axis=0)


def rank_filters(importance: np.ndarray) -> np.ndarray:
    """Filter indices from most to least important (ties keep index order): int64 (O,)."""
    return np.argsort(-np.asarray(importance), kind="stable").astype(np.int64)


@contextlib.contextmanager
def zeroed_filters(module: nn.Module, filters: Sequence[int]) -> Iterator[nn.Module]:
    """Zero the weights (and bias) of output filters ``filters`` of ``module``; restore after."""
    saved = {k: p.detach().clone() for k, p in module.named_parameters(recurse=False)}
    try:
        with torch.no_grad():
            for key in ("weight", "bias"):
                param = getattr(module, key, None)
                if isinstance(param, torch.Tensor):
                    param[list(filters)] = 0
        yield module
    finally:
        with torch.no_grad():
            for key, value in saved.items():
                getattr(module, key).copy_(value)


def evaluate(
    model: nn.Module, x: torch.Tensor, target: Target, correct: Sequence[set[int]]
) -> dict[str, float]:
    """Mean target score and top-1 accuracy (top-1 in ``correct[n]``) over the images."""
    with eval_mode(model), torch.no_grad():
        logits = model(x)
        score = float(target(logits).mean())
        top = logits.argmax(dim=1).tolist()
    hits = [t in ok for t, ok in zip(top, correct, strict=True)]
    return {"score": score, "top1": float(np.mean(hits))}


def pruning_check(
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    target: Target,
    ranking: np.ndarray,
    *,
    ks: Sequence[int] = (1,),
) -> list[dict[str, Any]]:
    """Zero the top-k and the bottom-k filters of ``layer``; report score and top-1 changes.

    Parameters
    ----------
    ranking : ndarray of shape (O,)
        Filters from most to least important (``rank_filters``).
    ks : sequence of int
        How many filters to remove, each tried from the top and from the bottom.

    Returns
    -------
    list of dict
        First the unchanged model (``removed = "none"``), then one row per (end, k):
        ``removed``, ``filters``, ``score``, ``score_change``, ``top1``, ``top1_change``.
        The "correct" class of an image is the target's class (set), or for ``pred`` the
        class the unchanged model predicts.
    """
    module = dict(model.named_modules())[layer]
    with eval_mode(model), torch.no_grad():
        base_top = model(x).argmax(dim=1).tolist()
    correct = [set(target.classes) if target.classes else {t} for t in base_top]
    base = evaluate(model, x, target, correct)
    rows: list[dict[str, Any]] = [{"removed": "none", "filters": [], **base}]
    for k, end in itertools.product(ks, ("top", "bottom")):
        chosen = ranking[:k] if end == "top" else ranking[len(ranking) - k :]
        with zeroed_filters(module, chosen.tolist()):
            result = evaluate(model, x, target, correct)
        rows.append(
            {
                "removed": f"{end}-{k}",
                "filters": [int(f) for f in chosen],
                **result,
                "score_change": result["score"] - base["score"],
                "top1_change": result["top1"] - base["top1"],
            }
        )
    return rows


def importance_report(
    model: nn.Module, x: torch.Tensor, layer: str, target: Target, *, ks: Sequence[int] = (1,)
) -> dict[str, Any]:
    """Filter ranking of ``layer`` for ``target`` over ``x``, and the pruning check.

    Returns
    -------
    dict
        ``layer``, ``images``, ``ranking`` (most important first), ``importance`` (in ranking
        order), ``pruning`` (rows of ``pruning_check``).
    """
    from volviz.capture.gradients import weight_gradients

    result = weight_gradients(model, x, [layer], target)
    assert result.per_image is not None
    scores = filter_importance(result.per_image[layer])
    ranking = rank_filters(scores)
    return {
        "layer": layer,
        "images": len(x),
        "ranking": ranking.tolist(),
        "importance": [float(scores[i]) for i in ranking],
        "pruning": pruning_check(model, x, layer, target, ranking, ks=ks),
    }


def compare_table(
    per_image: Mapping[str, np.ndarray], means: Mapping[str, np.ndarray]
) -> dict[str, list[dict[str, Any]]]:
    """Norms per class set and, per pair, cosine similarity and norm ratios.

    Parameters
    ----------
    per_image : dict of role to ndarray of shape (N_role, O, I, kh, kw)
    means : dict of role to ndarray of shape (O, I, kh, kw)
        Mean gradient of each role (reference, similar, dissimilar).

    Returns
    -------
    dict
        ``roles``: rows of ``role``, ``images``, ``mean_image_norm`` (mean of per-image L2
        norms), ``mean_norm`` (L2 norm of the mean gradient). ``pairs``: rows of ``a``,
        ``b``, ``cosine`` (of the mean gradients), ``image_norm_ratio`` (a / b of
        mean_image_norm), ``mean_norm_ratio``, ``difference_norm`` (of mean a - mean b).
    """
    roles: list[dict[str, Any]] = []
    for role, g in per_image.items():
        flat = np.asarray(g, dtype=np.float64).reshape(len(g), -1)
        roles.append(
            {
                "role": role,
                "images": len(g),
                "mean_image_norm": float(np.linalg.norm(flat, axis=1).mean()),
                "mean_norm": float(np.linalg.norm(np.asarray(means[role], dtype=np.float64))),
            }
        )
    by_role = {r["role"]: r for r in roles}
    pairs = []
    for a, b in itertools.combinations(list(means), 2):
        va = np.asarray(means[a], dtype=np.float64).ravel()
        vb = np.asarray(means[b], dtype=np.float64).ravel()
        denom = np.linalg.norm(va) * np.linalg.norm(vb)
        pairs.append(
            {
                "a": a,
                "b": b,
                "cosine": float(va @ vb / denom) if denom > 0 else float("nan"),
                "image_norm_ratio": _ratio(by_role[a]["mean_image_norm"], by_role[b]),
                "mean_norm_ratio": _ratio(by_role[a]["mean_norm"], by_role[b], "mean_norm"),
                "difference_norm": float(np.linalg.norm(va - vb)),
            }
        )
    return {"roles": roles, "pairs": pairs}


def _ratio(a: float, row: Mapping[str, Any], key: str = "mean_image_norm") -> float:
    b = float(row[key])
    return a / b if b > 0 else float("nan")
