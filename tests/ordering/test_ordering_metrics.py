"""Metrics against brute force on tiny inputs, and the path solver against the optimum."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from ordering import METHODS, distance_matrix, fit_order
from ordering._tsp import greedy_edge_path, local_search
from ordering.metrics import (
    adjacency_stability,
    anti_robinson_events,
    expected_random_path_length,
    held_karp_bound,
    image_stability,
    mst_bound,
    order_metrics,
    path_length,
    random_path_lengths,
    rank_stability,
)
from ordering.seriation import BestOrdering, TSPOrdering


def _points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return distance_matrix(rng.random((n, 3)))


def _brute_path(dist: np.ndarray, order) -> float:
    return sum(dist[order[i], order[i + 1]] for i in range(len(order) - 1))


def _optimal_path(dist: np.ndarray) -> float:
    n = dist.shape[0]
    return min(_brute_path(dist, p) for p in itertools.permutations(range(n)) if p[0] < p[-1])


def _brute_mst(dist: np.ndarray) -> float:
    """Minimum over all spanning trees (Pruefer sequences enumerate them)."""
    n = dist.shape[0]
    best = np.inf
    for code in itertools.product(range(n), repeat=n - 2):
        degree = [1] * n
        for v in code:
            degree[v] += 1
        weight, seq = 0.0, list(code)
        for v in seq:
            leaf = min(u for u in range(n) if degree[u] == 1)
            weight += dist[leaf, v]
            degree[leaf] -= 1
            degree[v] -= 1
        u, w = (x for x in range(n) if degree[x] == 1)
        best = min(best, weight + dist[u, w])
    return best


def _brute_anti_robinson(dist: np.ndarray, order) -> int:
    d = dist[np.ix_(order, order)]
    n = len(order)
    events = 0
    for i, j, k in itertools.combinations(range(n), 3):
        events += int(d[i, k] < d[i, j]) + int(d[i, k] < d[j, k])
    return events


@pytest.mark.parametrize("seed", range(4))
def test_path_length_and_mst_match_brute_force(seed):
    dist = _points(6, seed)
    order = np.random.default_rng(seed).permutation(6)
    assert path_length(dist, order) == pytest.approx(_brute_path(dist, order))
    assert mst_bound(dist) == pytest.approx(_brute_mst(dist))


def test_mst_matches_scipy():
    from scipy.sparse.csgraph import minimum_spanning_tree

    dist = _points(150, 3)  # no zero off-diagonal entries, so scipy's sparse view is exact
    assert mst_bound(dist) == pytest.approx(minimum_spanning_tree(dist).sum(), rel=1e-12)


def test_mst_with_duplicate_items():
    """scipy treats 0 entries as missing edges; duplicates must still count as distance 0."""
    items = np.array([[0.0], [0.0], [1.0], [3.0]])
    assert mst_bound(distance_matrix(items)) == pytest.approx(3.0)


@pytest.mark.parametrize("seed", range(3))
def test_expected_random_length_is_the_mean_over_all_permutations(seed):
    dist = _points(6, seed)
    lengths = [_brute_path(dist, p) for p in itertools.permutations(range(6))]
    assert expected_random_path_length(dist) == pytest.approx(np.mean(lengths))
    sampled = random_path_lengths(dist, n_orders=2000, random_state=seed).mean()
    assert sampled == pytest.approx(np.mean(lengths), rel=0.03)


@pytest.mark.parametrize("seed", range(4))
def test_anti_robinson_events_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    dist = distance_matrix(rng.integers(0, 3, (9, 2)).astype(float))  # many ties
    order = rng.permutation(9)
    assert anti_robinson_events(dist, order) == _brute_anti_robinson(dist, order)


@pytest.mark.parametrize("n", [40, 70])
def test_anti_robinson_events_match_brute_force_across_merge_levels(n):
    """Beyond 16 items the count merges blocks of 32, 64 (and 128): ties, padding, levels."""
    rng = np.random.default_rng(n)
    dist = distance_matrix(rng.integers(0, 4, (n, 2)).astype(float))
    for order in (rng.permutation(n), np.arange(n)):
        assert anti_robinson_events(dist, order) == _brute_anti_robinson(dist, order)


def test_anti_robinson_zero_for_sorted_points_on_a_line():
    items = np.sort(np.random.default_rng(0).random(12))[:, None]
    dist = distance_matrix(items)
    assert anti_robinson_events(dist, np.arange(12)) == 0
    assert anti_robinson_events(dist, np.arange(12)[::-1]) == 0
    assert anti_robinson_events(dist, np.r_[1, 0, 2:12]) > 0


@pytest.mark.parametrize("n", [4, 5, 6, 7, 8])
@pytest.mark.parametrize("seed", range(3))
def test_tsp_finds_the_optimal_path_and_bounds_bracket_it(n, seed):
    dist = _points(n, 10 * n + seed)
    optimum = _optimal_path(dist)
    for est in (TSPOrdering(), BestOrdering()):
        order = est._fit_items(np.empty((n, 0)), dist)
        assert path_length(dist, order) == pytest.approx(optimum)
    plain = local_search(dist, greedy_edge_path(dist))
    bound = held_karp_bound(dist, n_iter=200)
    assert mst_bound(dist) - 1e-9 <= bound <= optimum + 1e-9
    assert optimum <= path_length(dist, plain) + 1e-9


def test_local_search_never_lengthens():
    dist = _points(40, 1)
    for seed in range(3):
        start = np.random.default_rng(seed).permutation(40)
        improved = local_search(dist, start, n_kicks=20, random_state=seed)
        assert np.array_equal(np.sort(improved), np.arange(40))
        assert path_length(dist, improved) <= path_length(dist, start)


def test_order_metrics_is_plain_json():
    dist = _points(7, 0)
    metrics = order_metrics(dist, np.arange(7)[::-1])
    assert json.loads(json.dumps(metrics)) == metrics
    assert metrics["path_length"] == pytest.approx(metrics["original_path_length"])
    assert metrics["ratio_to_original"] == pytest.approx(1.0)
    # The exact fraction, counted independently: every triple i < j < k of positions.
    d = dist[np.ix_(np.arange(7)[::-1], np.arange(7)[::-1])]
    events = sum(
        int(d[i, k] < d[i, j]) + int(d[i, k] < d[j, k])
        for i in range(7)
        for j in range(i + 1, 7)
        for k in range(j + 1, 7)
    )
    assert metrics["anti_robinson_fraction"] == pytest.approx(events / (7 * 6 * 5 / 3))
    # Points on a line, in line order: a Robinson matrix, no event at all; shuffled, some.
    line = np.abs(np.subtract.outer(np.arange(7.0), np.arange(7.0)))
    assert order_metrics(line, np.arange(7))["anti_robinson_fraction"] == 0.0
    shuffled = order_metrics(line, np.array([3, 0, 6, 1, 5, 2, 4]))
    assert shuffled["anti_robinson_fraction"] > 0.3


@pytest.mark.parametrize("method", sorted(METHODS))
def test_identical_items_keep_their_order_and_have_no_ratio(method):
    # 0 / 0 is no ratio (it was reported as 1.0), and no order beats the original one
    metrics = order_metrics(np.zeros((4, 4)), np.arange(4))
    assert metrics["ratio_to_mst"] is None and metrics["ratio_to_original"] is None
    assert metrics["path_length"] == 0.0
    params = {"n_clusters": 1} if method == "kmeans-row" else {}  # refuses 8 clusters of 1 row
    fitted = fit_order(np.full((12, 3, 4), 5.0), method, **params)
    assert fitted.order_.tolist() == list(range(12))
    assert fitted.boundaries_.size == 0 and fitted.metrics_["ratio_to_random"] is None


def test_rank_stability_is_reversal_invariant():
    order = np.random.default_rng(0).permutation(20)
    assert rank_stability([order, order[::-1]]) == pytest.approx(1.0)
    assert adjacency_stability([order, order[::-1]]) == pytest.approx(1.0)
    shifted = np.r_[order[10:], order[:10]]
    assert adjacency_stability([order, shifted]) == pytest.approx(18 / 19)
    unrelated = [np.random.default_rng(s).permutation(200) for s in range(5)]
    assert rank_stability(unrelated) < 0.2
    assert adjacency_stability(unrelated) < 0.1


def test_rank_stability_known_value():
    # positions 0..3 vs 1,0,2,3: sum d^2 = 2 -> rho = 1 - 6*2/(4*15) = 0.8
    assert rank_stability([[0, 1, 2, 3], [1, 0, 2, 3]]) == pytest.approx(0.8)


def test_image_stability(structured):
    unrelated = np.random.default_rng(1).random(structured.shape).astype(np.float32)
    stack = np.stack([structured, structured * 2.0, unrelated])
    result = image_stability(TSPOrdering(), stack[:2])
    assert result == {"n_images": 2, "rank_stability": 1.0, "adjacency_stability": 1.0}
    assert image_stability(TSPOrdering(), stack)["adjacency_stability"] < 0.8
