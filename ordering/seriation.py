"""Seriation orderings that minimize the path through the maps (beyond CNN-VIS).

``olo`` (:class:`OptimalLeafOrdering`)
    Hierarchical clustering (average linkage by default) with scipy's optimal leaf ordering:
    among the 2^(n-1) orders the dendrogram allows, the one with the shortest path.
``spectral`` (:class:`SpectralOrdering`)
    Sort by the Fiedler vector of the graph Laplacian of a Gaussian similarity
    ``exp(-(d / scale)^2)``; captures the global trend, not local detail.
``tsp`` (:class:`TSPOrdering`)
    Shortest Hamiltonian path heuristics: greedy-edge (or another) start, 2-opt and or-opt local
    search, then seeded segment-swap kicks (iterated local search).
``best`` (:class:`BestOrdering`)
    Identical maps merged, then Lin-Kernighan-style iterated local search (sequential 2-opt and
    3-opt moves over alpha-nearness candidate partners, random-walk double-bridge kicks) from
    greedy edges.

All distances are ``metric`` on the (optionally ``normalize``-d) whole maps. A path and its
reverse are the same seriation; the direction reported is the one with ``order_[0] <
order_[-1]``. Everything is deterministic for a fixed ``random_state``.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage, optimal_leaf_ordering
from scipy.linalg import eigh
from scipy.spatial.distance import squareform
from sklearn.utils import check_random_state

from ordering._base import (
    OrderingEstimator,
    boundaries_from_labels,
    check_positive_int,
    orient_direction,
)
from ordering._errors import OrderingError
from ordering._lk import lk_search
from ordering._tsp import greedy_edge_path, local_search

_KICKS = 2000  # `best` kicks at most 2000 + 4 n times for n distinct maps
_PATIENCE = 500  # `best` restarts or stops after max(n, this) kicks without a shorter path
_ALPHA_STEPS = 100  # subgradient steps for the alpha-nearness candidates of `best`
LINKAGES = ("average", "complete", "single", "weighted")
STARTS = ("greedy", "spectral", "olo", "identity")


def olo_order(dist: np.ndarray, method: str = "average") -> tuple[np.ndarray, np.ndarray]:
    """Optimal leaf order and its (reordered) linkage matrix of shape (n - 1, 4)."""
    condensed = squareform(dist, checks=False)
    tree = optimal_leaf_ordering(linkage(condensed, method=method), condensed)
    return leaves_list(tree).astype(np.int64), tree


def fiedler_order(dist: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Order by the Fiedler vector of the Laplacian of ``exp(-(dist / scale)^2)``."""
    n = dist.shape[0]
    if n < 3:
        return np.arange(n, dtype=np.int64)
    if scale is None:
        off_diagonal = dist[np.triu_indices(n, 1)]
        positive = off_diagonal[off_diagonal > 0]
        scale = float(np.median(positive)) if positive.size else 1.0
    similarity = np.exp(-((dist / scale) ** 2))
    np.fill_diagonal(similarity, 0.0)
    laplacian = np.diag(similarity.sum(axis=1)) - similarity
    _, vectors = eigh(laplacian, subset_by_index=[1, 1])
    return np.argsort(vectors[:, 0], kind="stable").astype(np.int64)


def _seed(random_state: object) -> int:
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


class _Seriation(OrderingEstimator):
    def _check_linkage(self) -> None:
        if self.linkage not in LINKAGES:
            msg = f"linkage={self.linkage!r} is not one of {', '.join(map(repr, LINKAGES))}"
            raise OrderingError(msg)


class OptimalLeafOrdering(_Seriation):
    """Hierarchical clustering with optimal leaf ordering (scipy).

    Parameters
    ----------
    linkage : {"average", "complete", "single", "weighted"}, default="average"
    n_clusters : int or None, default=None
        Cut the tree into at most this many clusters to get ``labels_`` and ``boundaries_``
        (clusters of a dendrogram are contiguous in its leaf order).
    metric : {"euclidean", "correlation", "cosine"}, default="euclidean"
    normalize : {None, "zscore", "l2", "minmax"}, default=None

    Attributes
    ----------
    order_ : ndarray of shape (C,), int64
    position_ : ndarray of shape (C,), int64
    boundaries_ : ndarray of shape (n_found_clusters - 1,), int64
        Empty without ``n_clusters``.
    labels_ : ndarray of shape (C,), int64
        Only with ``n_clusters``; numbered in display order.
    linkage_matrix_ : ndarray of shape (C - 1, 4)
        Optimally ordered scipy linkage matrix (for dendrograms).
    metrics_ : dict
    n_features_in_ : int
    """

    def __init__(
        self,
        *,
        linkage: str = "average",
        n_clusters: int | None = None,
        metric: str = "euclidean",
        normalize: str | None = None,
    ) -> None:
        self.linkage = linkage
        self.n_clusters = n_clusters
        self.metric = metric
        self.normalize = normalize

    def _check_params(self) -> None:
        self._check_linkage()
        if self.n_clusters is not None:
            check_positive_int("n_clusters", self.n_clusters)

    def _fit_items(self, items: np.ndarray, dist: np.ndarray) -> np.ndarray:
        n = dist.shape[0]
        if self.n_clusters is not None and self.n_clusters > n:
            msg = f"n_clusters={self.n_clusters} is larger than the number of channels ({n})"
            raise OrderingError(msg)
        if n == 1:
            self.linkage_matrix_ = np.zeros((0, 4))
            if self.n_clusters is not None:
                self.labels_ = np.zeros(1, dtype=np.int64)
            return np.zeros(1, dtype=np.int64)
        order, tree = olo_order(dist, self.linkage)
        self.linkage_matrix_ = tree
        order = orient_direction(order)
        if self.n_clusters is not None:
            raw = fcluster(tree, self.n_clusters, criterion="maxclust")
            change = np.r_[True, raw[order][1:] != raw[order][:-1]]
            labels = np.empty(n, dtype=np.int64)
            labels[order] = np.cumsum(change) - 1
            self.labels_ = labels
            self.boundaries_ = boundaries_from_labels(labels[order])
        return order


class SpectralOrdering(_Seriation):
    """Spectral seriation: sort by the Fiedler vector of a Gaussian-similarity Laplacian.

    Parameters
    ----------
    scale : float or None, default=None
        Length scale of ``exp(-(d / scale)^2)``; None: the median pairwise distance.
    metric : {"euclidean", "correlation", "cosine"}, default="euclidean"
    normalize : {None, "zscore", "l2", "minmax"}, default=None

    Attributes
    ----------
    order_, position_, boundaries_, metrics_, n_features_in_ :
        As in :class:`OptimalLeafOrdering` (no clusters).
    """

    def __init__(
        self,
        *,
        scale: float | None = None,
        metric: str = "euclidean",
        normalize: str | None = None,
    ) -> None:
        self.scale = scale
        self.metric = metric
        self.normalize = normalize

    def _check_params(self) -> None:
        if self.scale is not None and not (
            isinstance(self.scale, (int, float)) and np.isfinite(self.scale) and self.scale > 0
        ):
            msg = f"scale={self.scale!r} must be a positive number or None"
            raise OrderingError(msg)

    def _fit_items(self, items: np.ndarray, dist: np.ndarray) -> np.ndarray:
        return orient_direction(fiedler_order(dist, self.scale))


def _start(dist: np.ndarray, start: str) -> np.ndarray:
    if start == "greedy":
        return greedy_edge_path(dist)
    if start == "spectral":
        return fiedler_order(dist)
    if start == "olo":
        return olo_order(dist)[0] if dist.shape[0] > 1 else np.arange(1, dtype=np.int64)
    return np.arange(dist.shape[0], dtype=np.int64)


class TSPOrdering(_Seriation):
    """Shortest-path seriation: a start order, 2-opt/or-opt local search, seeded kicks.

    Parameters
    ----------
    start : {"greedy", "spectral", "olo", "identity"}, default="greedy"
        Starting order: greedy-edge construction, a spectral or an optimal-leaf order, or the
        original order.
    n_kicks : int, default=100
        Segment-swap kicks after the first local optimum; a kick is kept only if it shortens
        the path (0: plain local search).
    max_segment : int, default=3
        Longest segment that or-opt moves.
    random_state : int, RandomState or None, default=0
        Seed of the kicks.
    metric : {"euclidean", "correlation", "cosine"}, default="euclidean"
    normalize : {None, "zscore", "l2", "minmax"}, default=None

    Attributes
    ----------
    order_, position_, boundaries_, metrics_, n_features_in_ :
        As in :class:`OptimalLeafOrdering` (no clusters).
    """

    def __init__(
        self,
        *,
        start: str = "greedy",
        n_kicks: int = 100,
        max_segment: int = 3,
        random_state: int | np.random.RandomState | None = 0,
        metric: str = "euclidean",
        normalize: str | None = None,
    ) -> None:
        self.start = start
        self.n_kicks = n_kicks
        self.max_segment = max_segment
        self.random_state = random_state
        self.metric = metric
        self.normalize = normalize

    def _check_params(self) -> None:
        if self.start not in STARTS:
            msg = f"start={self.start!r} is not one of {', '.join(map(repr, STARTS))}"
            raise OrderingError(msg)
        check_positive_int("n_kicks", self.n_kicks, minimum=0)
        check_positive_int("max_segment", self.max_segment)

    def _fit_items(self, items: np.ndarray, dist: np.ndarray) -> np.ndarray:
        order = local_search(
            dist,
            _start(dist, self.start),
            max_segment=self.max_segment,
            n_kicks=self.n_kicks,
            random_state=_seed(self.random_state),
        )
        return orient_direction(order)


class BestOrdering(_Seriation):
    """The shortest path this library finds: Lin-Kernighan-style iterated local search.

    Identical maps (equal distance rows, e.g. dead channels) are merged first and placed next
    to each other at the end, which changes no path length. The greedy-edge path over the
    distinct maps is improved by sequential 2-opt and 3-opt moves over candidate partners
    (see :mod:`ordering._lk`): first the 8 nearest, then, from a short Held-Karp ascent, the
    alpha-nearest ones (:mod:`ordering._alpha`); a second start, the greedy path under the
    ascent's transformed distances, is improved too, and the shorter goes on to ``n_kicks``
    seeded double-bridge kicks, each kept unless it lengthens the path. How close this gets
    to the Held-Karp lower bound of the optimum on 13 real layers: ``scripts/bench.py
    ordering`` and docs/benchmarks.md.

    Parameters
    ----------
    n_kicks : int or None, default=None
        Most kicks after the first local optimum; None: ``2000 + 4 n`` for ``n`` distinct
        maps (~0.05-0.3 ms each on one core). After ``max(n, 500)`` kicks in a row that did
        not shorten the path the search restarts (from the other start, then from the best
        path perturbed), or stops once half the kicks are spent.
    neighbours : int, default=5
        Alpha-nearest candidate partners per map for a move.
    random_state : int, RandomState or None, default=0
        Seed of the kicks.
    metric : {"euclidean", "correlation", "cosine"}, default="euclidean"
    normalize : {None, "zscore", "l2", "minmax"}, default=None

    Attributes
    ----------
    order_, position_, boundaries_, metrics_, n_features_in_ :
        As in :class:`TSPOrdering`.
    n_distinct_ : int
        Distinct maps that were searched.
    candidates_ : dict of str to float
        Path length of the greedy start (``"greedy"``) and of the result (``"best"``).
    """

    def __init__(
        self,
        *,
        n_kicks: int | None = None,
        neighbours: int = 5,
        random_state: int | np.random.RandomState | None = 0,
        metric: str = "euclidean",
        normalize: str | None = None,
    ) -> None:
        self.n_kicks = n_kicks
        self.neighbours = neighbours
        self.random_state = random_state
        self.metric = metric
        self.normalize = normalize

    def _check_params(self) -> None:
        if self.n_kicks is not None:
            check_positive_int("n_kicks", self.n_kicks, minimum=0)
        check_positive_int("neighbours", self.neighbours)

    def _fit_items(self, items: np.ndarray, dist: np.ndarray) -> np.ndarray:
        keep, members = distinct_items(dist)
        reduced = dist[np.ix_(keep, keep)]
        start = greedy_edge_path(reduced)
        n = keep.size
        n_kicks = _KICKS + 4 * n if self.n_kicks is None else self.n_kicks
        order = lk_search(
            reduced,
            start,
            n_kicks=n_kicks,
            random_state=_seed(self.random_state),
            patience=max(n, _PATIENCE),
            alpha_steps=_ALPHA_STEPS,
            alpha_candidates=self.neighbours,
        )
        self.n_distinct_ = int(keep.size)
        self.candidates_ = {"greedy": _length(reduced, start), "best": _length(reduced, order)}
        return orient_direction(np.concatenate([members[i] for i in order]))


def distinct_items(dist: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Merge items with identical distance rows (so at distance 0 from each other).

    Returns
    -------
    keep : ndarray of shape (n_distinct,), int64
        The first item of every group, in increasing order.
    members : list of ndarray
        ``members[i]``: the items of ``keep[i]``'s group, increasing (``keep[i]`` first).
    """
    _, first, inverse = np.unique(dist, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    by_first = np.argsort(first, kind="stable")
    rank = np.empty_like(by_first)
    rank[by_first] = np.arange(by_first.size)
    groups = rank[inverse]
    sorted_items = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[sorted_items], np.arange(first.size + 1))
    members = [sorted_items[a:b].astype(np.int64) for a, b in pairwise(bounds)]
    return np.sort(first).astype(np.int64), members


def _length(dist: np.ndarray, order: np.ndarray) -> float:
    return float(dist[order[:-1], order[1:]].sum())
