"""Per-layer statistics, computed streaming (one image at a time) from a store.

For a layer with activations (N, C, H, W):
- sparsity: the fraction of values <= 0. On a post-activation key (``NAME+post``, what the
  next layer receives) after a ReLU these are the exact zeros the next layer sees; on a raw
  output (stage ``pre``) it is what a ReLU applied directly would zero, which is not what
  happens when a BatchNorm sits in between (EfficientNet, resnet): prefer post keys;
- dead channels: never > 0 on any image or position; always-on: > 0 everywhere;
- per-channel mean, std, min, max, and fraction of positive values;
- top-k (image, row, column, value) per channel by the channel's maximum on each image;
- the channel correlation matrix (Pearson over images x positions) and an order of the
  channels by the ``best`` seriation of their correlation profiles (the matrix rows), so
  channels that correlate alike sit together.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from volviz.errors import VolvizError


@dataclass
class LayerStats:
    """Statistics of one layer; arrays are per channel (C,) unless noted."""

    layer: str
    n_images: int
    mean: np.ndarray
    std: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    fraction_positive: np.ndarray
    top_image: np.ndarray  # (C, k) int64, best first
    top_row: np.ndarray  # (C, k)
    top_col: np.ndarray  # (C, k)
    top_value: np.ndarray  # (C, k) float32
    correlation: np.ndarray  # (C, C) float32
    correlation_order: np.ndarray  # (C,) int64
    order_metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def sparsity(self) -> float:
        return float(1.0 - self.fraction_positive.mean())

    @property
    def dead(self) -> np.ndarray:
        return np.flatnonzero(self.maximum <= 0)

    @property
    def always_on(self) -> np.ndarray:
        return np.flatnonzero(self.minimum > 0)


class _Moments:
    """Running sums over images for per-channel moments and channel co-moments (float64)."""

    def __init__(self, c: int) -> None:
        self.count = 0
        self.total = np.zeros(c)
        self.gram = np.zeros((c, c))
        self.positive = np.zeros(c)
        self.minimum = np.full(c, np.inf)
        self.maximum = np.full(c, -np.inf)

    def add(self, maps: np.ndarray) -> None:
        flat = maps.reshape(maps.shape[0], -1).astype(np.float64)
        self.count += flat.shape[1]
        self.total += flat.sum(axis=1)
        self.gram += flat @ flat.T
        self.positive += (flat > 0).sum(axis=1)
        self.minimum = np.minimum(self.minimum, flat.min(axis=1))
        self.maximum = np.maximum(self.maximum, flat.max(axis=1))

    def mean_std_corr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mean = self.total / self.count
        cov = self.gram / self.count - np.outer(mean, mean)
        var = np.clip(np.diag(cov), 0.0, None)
        std = np.sqrt(var)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(std, std)
        # A constant channel has no defined correlation: 0 with others, 1 with itself.
        corr[~np.isfinite(corr)] = 0.0
        np.fill_diagonal(corr, 1.0)
        return mean, std, np.clip(corr, -1.0, 1.0)


def layer_stats(
    dataset: Any, layer: str, *, top_k: int = 5, order: bool = True, n_kicks: int | None = None
) -> LayerStats:
    """Statistics of an (N, C, H, W) array-like (an h5py dataset is read one image at a time).

    Parameters
    ----------
    dataset : array-like of shape (N, C, H, W)
    layer : str
    top_k : int
        How many images to keep per channel (at most N).
    order : bool
        Order the correlation matrix by the ``best`` seriation (skipped for 1 channel).
    n_kicks : int, optional
        Kicks of that seriation (default: ``best``'s own, the full search).
    """
    if len(dataset.shape) != 4 or dataset.shape[0] == 0 or dataset.shape[1] == 0:
        msg = f"layer {layer!r} has shape {tuple(dataset.shape)}; need (N >= 1, C >= 1, H, W)"
        raise VolvizError(msg)
    if top_k < 1:
        raise VolvizError("must be at least 1", param="top_k", value=top_k)
    n, c, _, w = dataset.shape
    moments = _Moments(c)
    peak = np.empty((n, c), np.float32)
    where = np.empty((n, c), np.int64)
    for i in range(n):
        maps = np.asarray(dataset[i], dtype=np.float32)
        if not np.isfinite(maps).all():
            msg = f"layer {layer!r} image {i} holds NaN or inf values"
            raise VolvizError(msg)
        moments.add(maps)
        flat = maps.reshape(c, -1)
        where[i] = flat.argmax(axis=1)
        peak[i] = flat[np.arange(c), where[i]]
    mean, std, corr = moments.mean_std_corr()
    k = min(top_k, n)
    top = np.argsort(-peak, axis=0, kind="stable")[:k].T  # (C, k) image indices
    pos = np.take_along_axis(where.T, top, axis=1)
    corr_order, metrics = _order_channels(corr, n_kicks) if order and c > 1 else (np.arange(c), {})
    return LayerStats(
        layer=layer,
        n_images=n,
        mean=mean,
        std=std,
        minimum=moments.minimum,
        maximum=moments.maximum,
        fraction_positive=moments.positive / moments.count,
        top_image=top.astype(np.int64),
        top_row=(pos // w).astype(np.int64),
        top_col=(pos % w).astype(np.int64),
        top_value=np.take_along_axis(peak.T, top, axis=1),
        correlation=corr.astype(np.float32),
        correlation_order=corr_order,
        order_metrics=metrics,
    )


def _order_channels(corr: np.ndarray, n_kicks: int | None) -> tuple[np.ndarray, dict[str, Any]]:
    """Best seriation of the channels, each described by its row of the correlation matrix."""
    import ordering

    est = ordering.make_ordering("best", n_kicks=n_kicks).fit(corr.astype(np.float64))
    metrics = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in est.metrics_.items()}
    return np.asarray(est.order_, dtype=np.int64), metrics


def describe_stage(attrs: Mapping[str, Any]) -> str:
    """Which tensor a store key holds, in words, from its layer-group attributes.

    ``post after _bn0 -> _swish (ReLU6)``, ``post = raw output (next op not element-wise)``
    or ``pre: raw output of the module`` (also for stores written before stages existed).
    """
    if attrs.get("stage", "pre") != "post":
        return "pre: raw output of the module"
    chain = json.loads(str(attrs.get("post_chain", "[]")))
    if not chain:
        return "post = raw output (what follows is not element-wise)"
    act = str(attrs.get("post_activation", "none"))
    return f"post: after {' -> '.join(chain)}" + (f" ({act})" if act != "none" else "")


def prefer_post(keys: Sequence[str]) -> list[str]:
    """``keys`` without the raw outputs whose post-activation (``NAME+post``) is also there."""
    have = set(keys)
    return [k for k in keys if k + "+post" not in have]
