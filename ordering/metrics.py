"""Quality metrics for channel orderings; every fitted estimator reports them in ``metrics_``.

All functions take a symmetric distance matrix ``dist`` of shape (n, n) (see
:func:`ordering.distance_matrix`) and permutations of ``range(n)``.

Path length
    Sum of the distances between adjacent slices, for an order (:func:`path_length`), for the
    original order, for random orders (mean of ``n_random`` seeded permutations, and the exact
    expectation ``(n - 1) * mean pairwise distance``), and the minimum-spanning-tree weight, a
    lower bound for the path length of ANY order (:func:`mst_bound`). :func:`held_karp_bound`
    is a much tighter (and slower) lower bound, for analysis: it shows how far from optimal an
    order can still be.
Anti-Robinson events
    Triples ``i < j < k`` (positions in the order) that violate "distances grow away from the
    diagonal": ``d(i, k) < d(i, j)`` and, separately, ``d(i, k) < d(j, k)``; 0 for a perfect
    Robinson matrix.
Stability
    How much the orders fitted on different images agree. A path and its reverse are the same
    seriation, so :func:`rank_stability` is the mean absolute Spearman correlation between the
    channels' positions (reversal-invariant; 1 = same or reversed order, ~0 = unrelated), and
    :func:`adjacency_stability` the mean fraction of neighbouring channel pairs that two orders
    share (also invariant to flipping blocks). :func:`image_stability` fits an estimator on every
    image of an (N, C, H, W) stack and reports both. Stability needs N extra fits, so it is not
    part of ``metrics_``.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
from sklearn.base import clone

from ordering._errors import OrderingError


def _check_order(dist: np.ndarray, order: Any) -> np.ndarray:
    order = np.asarray(order)
    n = dist.shape[0]
    if order.shape != (n,) or not np.array_equal(np.sort(order), np.arange(n)):
        msg = f"order must be a permutation of range({n}); got {order!r:.80}"
        raise OrderingError(msg)
    return order.astype(np.int64)


def path_length(dist: np.ndarray, order: Any) -> float:
    """Sum of distances between consecutive items of ``order``.

    Parameters
    ----------
    dist : ndarray of shape (n, n)
    order : array-like of shape (n,)
        A permutation of ``range(n)``.

    Returns
    -------
    length : float
    """
    order = _check_order(dist, order)
    return float(dist[order[:-1], order[1:]].sum())


def mst_bound(dist: np.ndarray) -> float:
    """Weight of the minimum spanning tree: no order has a shorter path.

    Parameters
    ----------
    dist : ndarray of shape (n, n)

    Returns
    -------
    weight : float
    """
    n = dist.shape[0]
    if n < 2:
        return 0.0
    return float(_mst(dist)[0])


def _mst(weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Prim's algorithm on a dense matrix: MST weight and node degrees, O(n^2).

    Dense Prim is exact for zero and negative weights (scipy's sparse routine would read a 0
    distance as "no edge") and much faster than sorting all n^2 / 2 edges.
    """
    n = weights.shape[0]
    in_tree = np.zeros(n, dtype=bool)
    in_tree[0] = True
    cheapest = weights[0].astype(np.float64)
    cheapest[0] = np.inf
    parent = np.zeros(n, dtype=np.int64)
    degree = np.zeros(n, dtype=np.int64)
    total = 0.0
    for _ in range(n - 1):
        node = int(np.argmin(cheapest))
        total += float(cheapest[node])
        degree[node] += 1
        degree[parent[node]] += 1
        in_tree[node] = True
        cheapest[node] = np.inf
        row = weights[node]
        closer = (row < cheapest) & ~in_tree
        cheapest[closer] = row[closer]
        parent[closer] = node
    return total, degree


def random_path_lengths(
    dist: np.ndarray, *, n_orders: int = 100, random_state: int = 0
) -> np.ndarray:
    """Path lengths of ``n_orders`` random permutations (numpy ``default_rng(random_state)``).

    Returns
    -------
    lengths : ndarray of shape (n_orders,)
    """
    rng = np.random.default_rng(random_state)
    n = dist.shape[0]
    orders = np.stack([rng.permutation(n) for _ in range(n_orders)])
    return dist[orders[:, :-1], orders[:, 1:]].sum(axis=1)


def expected_random_path_length(dist: np.ndarray) -> float:
    """Exact mean path length over all permutations: ``(n - 1) * mean pairwise distance``."""
    n = dist.shape[0]
    if n < 2:
        return 0.0
    return float(dist.sum() / n)  # (n - 1) * sum / (n * (n - 1))


def anti_robinson_events(dist: np.ndarray, order: Any) -> int:
    """Count anti-Robinson events of ``dist`` permuted by ``order``.

    For positions ``i < j < k`` an event is ``d(i, k) < d(i, j)`` (row condition) and, counted
    separately, ``d(i, k) < d(j, k)`` (column condition). Row ``r`` of the permuted matrix holds
    both: pairs to the right of the diagonal that decrease outwards (strict inversions of the
    row right of ``r``) and pairs to the left that decrease outwards (strict inversions of the
    reversed row left of ``r``). Exact, by merge counting of all rows at once: O(n^2 log n).

    Returns
    -------
    events : int
        Between 0 and ``n * (n - 1) * (n - 2) / 3``.
    """
    order = _check_order(dist, order)
    permuted = dist[np.ix_(order, order)]
    n = order.size
    if n < 3:
        return 0
    on_or_below = np.tri(n, dtype=bool)  # -inf there: ties among themselves, below the row
    right = np.where(on_or_below, -np.inf, permuted)
    left = np.where(on_or_below, -np.inf, permuted[::-1, ::-1])
    return _row_inversions(right) + _row_inversions(left)


_SMALL_BLOCK = 16  # pairs within blocks this wide are compared directly


def _row_inversions(values: np.ndarray) -> int:
    """Sum over rows of the pairs ``j < k`` with ``values[j] > values[k]`` (ties not counted).

    Each row becomes dense ranks (equal values, equal rank), padded to a power of two with a
    rank above all. Pairs inside blocks of 16 are compared directly; then for blocks of width
    32, 64, ... the pairs across the two halves of a block are counted from the block sorted
    by ``2 rank + half``: a pair is an inversion where a right-half element sorts before a
    left-half one, so the count is ``sum over right-half elements of (elements after it)``
    minus the right-half pairs among themselves.
    """
    rows, n = values.shape
    dtype = np.int16 if 2 * n + 1 <= np.iinfo(np.int16).max else np.int32
    order = np.argsort(values, axis=1)
    ordered = np.take_along_axis(values, order, axis=1)
    dense = np.zeros((rows, n), dtype=dtype)
    np.cumsum(ordered[:, 1:] != ordered[:, :-1], axis=1, out=dense[:, 1:])
    size = 1 << max(4, (n - 1).bit_length())
    ranks = np.full((rows, size), n, dtype=dtype)
    np.put_along_axis(ranks[:, :n], order, dense, axis=1)
    blocks = ranks.reshape(-1, _SMALL_BLOCK)
    total = sum(
        int(np.count_nonzero(blocks[:, a : a + 1] > blocks[:, a + 1 :]))
        for a in range(_SMALL_BLOCK - 1)
    )
    width = 2 * _SMALL_BLOCK
    while width <= size:
        half = width // 2
        keys = ranks.reshape(-1, width) * dtype(2)
        keys[:, half:] += dtype(1)
        keys.sort(axis=1)
        in_right = np.bitwise_and(keys, 1).astype(np.float64)
        after = np.arange(width, 0, -1, dtype=np.float64)  # elements from each position on
        total += round(float((in_right @ after).sum())) - keys.shape[0] * half * (half + 1) // 2
        width *= 2
    return total


def held_karp_bound(
    dist: np.ndarray,
    *,
    n_iter: int = 1000,
    upper_bound: float | None = None,
    merge_identical: bool = False,
) -> float:
    """Held-Karp (1-tree Lagrangian) lower bound on the shortest path through all items.

    The path is a tour through the items plus a node at distance 0 from all of them; the bound
    is the best 1-tree weight over subgradient steps on the node multipliers (Polyak steps toward
    ``upper_bound`` along smoothed subgradients, halved after 50 steps without progress). Every
    iterate is a valid bound; more iterations and a shorter ``upper_bound`` tighten it.

    Parameters
    ----------
    dist : ndarray of shape (n, n)
    n_iter : int, default=1000
    upper_bound : float or None, default=None
        Length of a known path; None: the 2-opt/or-opt path from :mod:`ordering._tsp`.
    merge_identical : bool, default=False
        Bound the path through one item per group of identical items (equal distance rows,
        e.g. dead channels): the subgradient steps stall on hundreds of tied items. Valid for
        metric distances ("euclidean"), where dropping a duplicate never lengthens a path.

    Returns
    -------
    bound : float
        ``mst_bound(dist) <= bound <= optimal path length``.
    """
    from ordering._tsp import greedy_edge_path, local_search

    if merge_identical:
        keep = np.unique(dist, axis=0, return_index=True)[1]
        dist = dist[np.ix_(np.sort(keep), np.sort(keep))]
    n = dist.shape[0]
    if n < 3:
        return float(dist[0, 1]) if n == 2 else 0.0
    if upper_bound is None:
        upper_bound = path_length(dist, local_search(dist, greedy_edge_path(dist)))
    pi, direction = np.zeros(n), np.zeros(n)
    best, step, stale = -np.inf, 1.0, 0
    for _ in range(n_iter):
        tree, degree = _mst(dist + pi[:, None] + pi[None, :])
        cheapest = np.argsort(pi, kind="stable")[:2]  # the extra node's two edges
        degree[cheapest] += 1
        value = tree + pi[cheapest].sum() - 2.0 * pi.sum()
        if value > best + 1e-12:
            best, stale = value, 0
        else:
            stale += 1
            if stale >= 50:
                step, stale = step / 2.0, 0
        gradient = degree - 2
        if not gradient.any():  # the 1-tree is a path: optimal
            return float(value)
        # Crowder's smoothing (as in Held-Karp's and LKH's ascent): part of the last direction
        # damps the zig-zag; on layers with hundreds of near-identical maps it gains ~0.1 %.
        direction = 0.7 * gradient + 0.3 * direction
        pi += step * max(upper_bound - value, 0.0) / float(direction @ direction) * direction
    return float(max(best, mst_bound(dist)))


def _ratio(numerator: float, denominator: float) -> float | None:
    if denominator == 0:
        return None  # only when every item is identical: 0 / 0, no order is better or worse
    return float(numerator / denominator)


def order_metrics(
    dist: np.ndarray, order: Any, *, n_random: int = 100, random_state: int = 0
) -> dict[str, float | int | None]:
    """All per-fit metrics as a JSON-serialisable dict of floats and ints.

    Parameters
    ----------
    dist : ndarray of shape (n, n)
    order : array-like of shape (n,)
    n_random : int, default=100
        Random orders averaged for ``random_mean_path_length``.
    random_state : int, default=0
        Seed of the random orders (fixed, so that methods are compared on the same orders).

    Returns
    -------
    metrics : dict
        ``n_items``, ``path_length``, ``original_path_length``, ``random_mean_path_length``,
        ``random_expected_path_length``, ``mst_bound``, ``ratio_to_mst``,
        ``original_ratio_to_mst``, ``ratio_to_original``, ``ratio_to_random`` (to the exact
        expectation), ``anti_robinson_events``, ``anti_robinson_fraction`` (events / maximum).
    """
    order = _check_order(dist, order)
    n = order.size
    length = path_length(dist, order)
    original = path_length(dist, np.arange(n))
    bound = mst_bound(dist)
    expected = expected_random_path_length(dist)
    random_mean = float(
        random_path_lengths(dist, n_orders=n_random, random_state=random_state).mean()
    )
    events = anti_robinson_events(dist, order)
    max_events = n * (n - 1) * (n - 2) // 3
    return {
        "n_items": int(n),
        "path_length": length,
        "original_path_length": original,
        "random_mean_path_length": random_mean if n > 1 else 0.0,
        "random_expected_path_length": expected,
        "mst_bound": bound,
        "ratio_to_mst": _ratio(length, bound),
        "original_ratio_to_mst": _ratio(original, bound),
        "ratio_to_original": _ratio(length, original),
        "ratio_to_random": _ratio(length, expected),
        "anti_robinson_events": int(events),
        "anti_robinson_fraction": float(events / max_events) if max_events else 0.0,
    }


def rank_stability(orders: Any) -> float:
    """Mean over pairs of orders of ``|Spearman rho|`` between channel positions.

    Reversing an order negates rho, so the absolute value makes a path and its reverse agree
    fully (1.0). Unrelated orders give values near 0.

    Parameters
    ----------
    orders : array-like of shape (n_orders, n)
        At least two permutations of ``range(n)``.

    Returns
    -------
    stability : float in [0, 1]
    """
    positions = _positions(orders)
    n = positions.shape[1]
    if n < 3:
        return 1.0
    scale = 6.0 / (n * (n * n - 1.0))
    values = [abs(1.0 - scale * float(((a - b) ** 2).sum())) for a, b in combinations(positions, 2)]
    return float(np.mean(values))


def adjacency_stability(orders: Any) -> float:
    """Mean over pairs of orders of the fraction of neighbouring channel pairs they share.

    Invariant to reversing the order and to flipping blocks; 1.0 for identical paths.

    Parameters
    ----------
    orders : array-like of shape (n_orders, n)

    Returns
    -------
    stability : float in [0, 1]
    """
    positions = _positions(orders)
    n = positions.shape[1]
    if n < 2:
        return 1.0
    edge_sets = []
    for pos in positions:
        order = np.argsort(pos)
        pairs = np.sort(np.stack([order[:-1], order[1:]], axis=1), axis=1)
        edge_sets.append(set(map(tuple, pairs.tolist())))
    shared = [len(a & b) / (n - 1) for a, b in combinations(edge_sets, 2)]
    return float(np.mean(shared))


def _positions(orders: Any) -> np.ndarray:
    orders = np.asarray(orders)
    if orders.ndim != 2 or orders.shape[0] < 2:
        msg = f"orders must be (n_orders >= 2, n); got shape {orders.shape}"
        raise OrderingError(msg)
    for order in orders:
        _check_order(np.empty((orders.shape[1], 0)), order)
    return np.argsort(orders, axis=1).astype(np.float64)


def image_stability(estimator: Any, X: Any) -> dict[str, float | int | None]:
    """Fit a clone of ``estimator`` on every image of a stack and compare the orders.

    Parameters
    ----------
    estimator : ordering estimator
    X : array-like of shape (N, C, H, W), N >= 2

    Returns
    -------
    stability : dict
        ``n_images``, ``rank_stability``, ``adjacency_stability``.
    """
    X = np.asarray(X)
    if X.ndim != 4 or X.shape[0] < 2:
        msg = f"X must be (N >= 2, C, H, W) to compare images; got shape {X.shape}"
        raise OrderingError(msg)
    orders = np.stack([clone(estimator).fit(image).order_ for image in X])
    return {
        "n_images": int(X.shape[0]),
        "rank_stability": rank_stability(orders),
        "adjacency_stability": adjacency_stability(orders),
    }
