"""The three CNN-VIS orderings (2016), reimplemented faithfully.

``cnnvis-pca`` (:class:`WholeMapPCA`)
    PCA on whole maps: the first principal component of the centred maps is a "principal image";
    every RAW (uncentred) map is scored by its dot product with it and the maps are sorted by
    score, ascending and stable. Reproduces CNN-VIS's ``vis_pca.vox`` exactly.
``kmeans-row`` (:class:`RowKMeans`)
    k-means on one row of every map, maps grouped by cluster. The original dropped one map per
    cluster to make room for a separator; here every map is kept and ``boundaries_`` says where
    separators go.
``pca-row`` (:class:`RowPCA`)
    PCA on one row of every map (columns standardized), sorted by first-component score.

PCA sign convention (shared by both PCA methods): the component is oriented so that its entries
sum to <= 0, i.e. the maps with the largest total response come first; this is the orientation
that CNN-VIS's file has. ``metric`` and ``normalize`` only choose the space in which ``metrics_``
are measured (always on whole maps); they do not change these orderings.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from ordering._base import (
    OrderingEstimator,
    boundaries_from_labels,
    check_positive_int,
    orient_component,
)
from ordering._errors import OrderingError


def _first_component(centred: np.ndarray) -> tuple[np.ndarray, float]:
    """Oriented unit first principal axis (n_features,) and its explained variance ratio."""
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    energy = float((singular**2).sum())
    ratio = float(singular[0] ** 2 / energy) if energy > 0 else 0.0
    return orient_component(vt[0]), ratio


class WholeMapPCA(OrderingEstimator):
    """CNN-VIS "PCA on whole images": sort raw maps by their score on the principal image.

    Parameters
    ----------
    metric : {"euclidean", "correlation", "cosine"}, default="euclidean"
        Distance used for ``metrics_`` only.
    normalize : {None, "zscore", "l2", "minmax"}, default=None
        Per-map normalization used for ``metrics_`` only.

    Attributes
    ----------
    order_ : ndarray of shape (C,), int64
        ``order_[i]`` is the original channel shown at position ``i``.
    position_ : ndarray of shape (C,), int64
        Inverse permutation: where original channel ``c`` is shown.
    boundaries_ : ndarray of shape (0,), int64
        No clusters.
    components_ : ndarray of shape (1, n_features)
        The principal image, flattened (H * W, or N * H * W for a stack), unit norm.
    scores_ : ndarray of shape (C,)
        Dot product of every raw map with the principal image; ``order_`` sorts it.
    explained_variance_ratio_ : float
        Share of the centred maps' variance on the first component.
    metrics_ : dict
        See :func:`ordering.metrics.order_metrics`.
    n_features_in_ : int
    """

    def __init__(self, *, metric: str = "euclidean", normalize: str | None = None) -> None:
        self.metric = metric
        self.normalize = normalize

    def _fit_items(self, items: np.ndarray, dist: np.ndarray) -> np.ndarray:
        component, ratio = _first_component(items - items.mean(axis=0))
        self.components_ = component[None, :]
        self.explained_variance_ratio_ = ratio
        self.scores_ = items @ component
        return np.argsort(self.scores_, kind="stable")


class RowPCA(OrderingEstimator):
    """CNN-VIS "PCA on a row slice": standardize one row of every map, sort by PC1 score.

    Parameters
    ----------
    row : int or None, default=None
        Map row to use (negative counts from the bottom); None: the middle row ``H // 2``.
        2D input (items x features) is one row per item.
    metric, normalize :
        As in :class:`WholeMapPCA` (``metrics_`` only).

    Attributes
    ----------
    order_, position_, boundaries_, metrics_, n_features_in_ :
        As in :class:`WholeMapPCA`; ``n_features_in_`` is the row length (times N for a stack).
    components_ : ndarray of shape (1, n_features_in_)
        First principal axis of the standardized rows.
    scores_ : ndarray of shape (C,)
        First-component scores; ``order_`` sorts them ascending (stable).
    explained_variance_ratio_ : float
    """

    _uses_rows = True

    def __init__(
        self, *, row: int | None = None, metric: str = "euclidean", normalize: str | None = None
    ) -> None:
        self.row = row
        self.metric = metric
        self.normalize = normalize

    def _fit_items(self, items: np.ndarray, dist: np.ndarray) -> np.ndarray:
        centred = items - items.mean(axis=0)
        scale = centred.std(axis=0)
        scale[scale == 0] = 1.0  # constant columns stay 0 (as scikit-learn's StandardScaler)
        standardized = centred / scale
        component, ratio = _first_component(standardized)
        self.components_ = component[None, :]
        self.explained_variance_ratio_ = ratio
        self.scores_ = standardized @ component
        return np.argsort(self.scores_, kind="stable")


class RowKMeans(OrderingEstimator):
    """CNN-VIS "k-means on a row slice": group maps by the cluster of one of their rows.

    Clusters are numbered by their lowest channel index (so ``labels_`` do not depend on
    k-means' arbitrary numbering) and shown in that order; inside a cluster maps keep their
    original order. Every map is kept.

    Parameters
    ----------
    n_clusters : int, default=8
        Must not exceed the number of channels, nor the number of distinct row slices.
    row : int or None, default=None
        As in :class:`RowPCA`.
    n_init : int, default=10
        k-means restarts.
    random_state : int, RandomState or None, default=0
        Seed of k-means; an int gives the same clusters every time.
    metric, normalize :
        As in :class:`WholeMapPCA` (``metrics_`` only).

    Attributes
    ----------
    order_, position_, metrics_, n_features_in_ :
        As in :class:`RowPCA`.
    labels_ : ndarray of shape (C,), int64
        Cluster of every original channel.
    boundaries_ : ndarray of shape (n_clusters - 1,), int64
        Positions in the ordered sequence where a new cluster starts: a separator belongs
        between displayed slices ``b - 1`` and ``b``.
    cluster_centers_ : ndarray of shape (n_clusters, n_features_in_)
        Centres in row-slice space, in the renumbered order.
    """

    _uses_rows = True

    def __init__(
        self,
        *,
        n_clusters: int = 8,
        row: int | None = None,
        n_init: int = 10,
        random_state: int | np.random.RandomState | None = 0,
        metric: str = "euclidean",
        normalize: str | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.row = row
        self.n_init = n_init
        self.random_state = random_state
        self.metric = metric
        self.normalize = normalize

    def _check_params(self) -> None:
        check_positive_int("n_clusters", self.n_clusters)
        check_positive_int("n_init", self.n_init)

    def _fit_items(self, items: np.ndarray, dist: np.ndarray) -> np.ndarray:
        n = items.shape[0]
        if self.n_clusters > n:
            msg = (
                f"n_clusters={self.n_clusters} is larger than the number of channels to order "
                f"(n_samples={n})"
            )
            raise OrderingError(msg)
        distinct = np.unique(items, axis=0).shape[0]
        if self.n_clusters > distinct:
            msg = (
                f"n_clusters={self.n_clusters} is larger than the number of distinct row "
                f"slices ({distinct} of {n} channels; dead channels repeat the same row)"
            )
            raise OrderingError(msg)
        model = KMeans(
            n_clusters=self.n_clusters, n_init=self.n_init, random_state=self.random_state
        )
        raw = model.fit_predict(items)
        present, first_seen = np.unique(raw, return_index=True)
        by_first_channel = np.argsort(first_seen, kind="stable")
        renumber = np.empty(present.size, dtype=np.int64)
        renumber[by_first_channel] = np.arange(present.size)
        self.labels_ = renumber[np.searchsorted(present, raw)]
        self.cluster_centers_ = model.cluster_centers_[present[by_first_channel]]
        order = np.argsort(self.labels_, kind="stable")
        self.boundaries_ = boundaries_from_labels(self.labels_[order])
        return order
