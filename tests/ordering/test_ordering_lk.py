"""The Lin-Kernighan-style search behind ``best``, the merging of identical maps, and the
Held-Karp bound with merged duplicates."""

from __future__ import annotations

import random
from itertools import permutations

import numpy as np
import pytest

from ordering import distance_matrix, fit_order
from ordering._lk import _Search, _Tour, lk_search
from ordering.metrics import held_karp_bound, path_length
from ordering.seriation import distinct_items


def _points(n: int, seed: int, dim: int = 3) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim))
    return np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))


def _optimal_length(dist: np.ndarray) -> float:
    n = dist.shape[0]
    return min(path_length(dist, perm) for perm in permutations(range(n)) if perm[0] < perm[-1])


@pytest.mark.parametrize("seed", range(6))
def test_lk_search_finds_the_optimal_path_of_small_instances(seed):
    dist = _points(8, seed)
    start = np.random.default_rng(seed).permutation(8)
    order = lk_search(dist, start, n_kicks=60, random_state=seed)
    assert sorted(order.tolist()) == list(range(8))
    assert path_length(dist, order) == pytest.approx(_optimal_length(dist))


@pytest.mark.parametrize("seed", range(20))
def test_every_move_keeps_one_tour_and_its_tracked_length(seed):
    """2-opt and the three 3-opt cases, chained by kicks, on many shapes of instance."""
    n = 5 + seed * 3
    dist = _points(n, seed, dim=2 + seed % 5)
    tour = _Tour(dist, np.random.default_rng(seed).permutation(n), 5)
    search = _Search(tour)
    search.descend(list(tour.t))
    rng = random.Random(seed)
    for _ in range(40):
        search.kick(rng, 2)
        path = tour.path()
        assert sorted(path.tolist()) == list(range(n))
        assert tour.length == pytest.approx(path_length(dist, path), abs=1e-9)


def test_lk_search_is_deterministic_and_never_lengthens_the_start():
    dist = _points(120, 7, dim=10)
    start = np.arange(120)
    first = lk_search(dist, start, n_kicks=200, random_state=3)
    assert np.array_equal(first, lk_search(dist, start, n_kicks=200, random_state=3))
    assert path_length(dist, first) < path_length(dist, start)
    assert path_length(dist, first) <= path_length(dist, lk_search(dist, start)) + 1e-9


def test_distinct_items_groups_identical_rows():
    x = np.array([[0.0, 0], [1, 1], [0, 0], [2, 0], [1, 1], [0, 0]])
    keep, members = distinct_items(distance_matrix(x))
    assert keep.tolist() == [0, 1, 3]
    assert [m.tolist() for m in members] == [[0, 2, 5], [1, 4], [3]]


def test_best_puts_identical_maps_together(make_volume):
    volume = make_volume(30, 5, seed=2)
    dead = np.zeros((12, 5, 5), dtype=np.float32)
    stacked = np.concatenate([volume[:10], dead, volume[10:]])  # dead channels 10..21
    est = fit_order(stacked, "best")
    assert est.n_distinct_ == 31
    positions = np.sort(est.position_[10:22])
    assert np.array_equal(positions, np.arange(positions[0], positions[0] + 12))
    alone = fit_order(np.concatenate([volume[:10], dead[:1], volume[10:]]), "best")
    assert est.metrics_["path_length"] == pytest.approx(alone.metrics_["path_length"])


def test_best_is_deterministic_for_a_seed(make_volume):
    volume = make_volume(60, 6, seed=4)
    a = fit_order(volume, "best", random_state=5).order_
    assert np.array_equal(a, fit_order(volume, "best", random_state=5).order_)


def test_held_karp_merging_identical_items_bounds_the_same_paths(make_volume):
    volume = make_volume(40, 5, seed=1)
    items = np.concatenate([volume, np.zeros((25, 5, 5), np.float32)]).reshape(65, -1)
    dist = distance_matrix(items)
    best = fit_order(items.reshape(65, 5, 5), "best").metrics_["path_length"]
    merged = held_karp_bound(dist, upper_bound=best, merge_identical=True)
    plain = held_karp_bound(dist, upper_bound=best)
    alone = held_karp_bound(distance_matrix(items[:41]), upper_bound=best)
    assert merged == pytest.approx(alone)  # the zero maps collapse onto one
    assert plain <= best + 1e-9
    assert merged <= best + 1e-9


def _mst_weight(weights: np.ndarray) -> float:
    from scipy.sparse.csgraph import minimum_spanning_tree

    return float(minimum_spanning_tree(weights + 1.0).sum()) - (weights.shape[0] - 1)


@pytest.mark.parametrize("seed", range(3))
def test_alpha_nearness_is_the_cost_of_forcing_an_edge_into_the_tree(seed):
    """alpha(i, j) = MST weight with edge (i, j) forced in - MST weight (0 on tree edges)."""
    from ordering._alpha import alpha_nearness

    weights = _points(9, seed)
    alpha = alpha_nearness(weights)
    tree = _mst_weight(weights)
    for i, j in [(i, j) for i in range(9) for j in range(9) if i != j]:
        forced = weights.copy()
        forced[i, j] = forced[j, i] = -1000.0  # taken first by any MST
        expected = _mst_weight(forced) + 1000.0 + weights[i, j] - tree
        assert alpha[i, j] == pytest.approx(expected, abs=1e-9)
    assert np.isclose(alpha, 0).sum() - 9 == 2 * 8  # the diagonal and the 8 tree edges


def test_alpha_candidates_and_ascent_shape_the_search():
    from ordering._alpha import alpha_lists, ascent

    dist = _points(60, 3, dim=6)
    start = lk_search(dist, np.arange(60))
    pi = ascent(dist, start, path_length(dist, start), n_iter=50)
    assert pi.shape == (60,) and np.isfinite(pi).all() and pi.any()
    lists = alpha_lists(dist, pi, 5)
    assert len(lists) == 61 and all(row[0] == 60 and len(row) == 6 for row in lists[:60])
    for i, row in enumerate(lists[:60]):
        assert i not in row and np.all(np.diff(dist[i, row[1:]]) >= 0)  # sorted by distance
    order = lk_search(dist, start, n_kicks=100, random_state=1, alpha_steps=50)
    assert np.array_equal(
        order, lk_search(dist, start, n_kicks=100, random_state=1, alpha_steps=50)
    )
    assert path_length(dist, order) <= path_length(dist, start) + 1e-9


def _line(n: int) -> np.ndarray:
    """Items on a line at 0, 1, 3, 6, ...: the one shortest path visits them in order."""
    x = np.cumsum(np.arange(n, dtype=np.float64))
    return np.abs(x[:, None] - x[None])


def test_second_start_keeps_the_shorter_local_optimum_and_returns_the_other():
    dist = _line(9)  # optimal path 0..8, length 36
    tour = _Tour(dist, np.array([0, 1, 2, 3, 4, 5, 6, 8, 7]), 3)  # length 21 + 15 + 8 = 44
    search = _Search(tour)
    other = search.second_start(list(range(9)))
    assert tour.length == pytest.approx(36.0)
    assert tour.path().tolist() in (list(range(9)), list(range(8, -1, -1)))
    assert other[0] == pytest.approx(44.0)
    assert other[1] == [9, 0, 1, 2, 3, 4, 5, 6, 8, 7]  # the zero-distance node 9 first
    kept = search.second_start([8, 0, 1, 2, 3, 4, 5, 6, 7])  # descends to 36 too: not shorter
    assert tour.length == pytest.approx(36.0) and kept[0] == pytest.approx(36.0)


def test_kicks_restart_from_the_other_start_and_leave_the_best_tour(monkeypatch):
    """With kicks that never help, the search restarts after ``patience`` of them: first from
    the other start (here the optimum), then from the best tour perturbed; it stops once half
    the kicks are spent and leaves the best tour it saw."""
    from ordering._lk import _iterate

    dist = _line(12)
    tour = _Tour(dist, np.array([1, 0, *range(2, 12)]), 3)  # 1 + 3 + (66 - 3) = 67
    search = _Search(tour)
    monkeypatch.setattr(search, "kick", lambda rng, walk: False)
    optimum = (66.0, [12, *range(12)])
    _iterate(search, random.Random(0), 10, 2, 1, optimum)
    assert tour.length == pytest.approx(66.0)
    assert tour.path().tolist() == list(range(12))
    tour.set_path([1, 0, *range(2, 12)])
    _iterate(search, random.Random(0), 2, 2, 1, optimum)  # half of 2 kicks spent: no restart
    assert tour.length == pytest.approx(67.0)
    assert tour.path().tolist() == [1, 0, *range(2, 12)]


@pytest.mark.parametrize("seed", range(5))
def test_perturbation_keeps_one_tour_and_its_tracked_length(seed):
    n = 20 + 7 * seed
    dist = _points(n, seed, dim=4)
    tour = _Tour(dist, np.arange(n), 5)
    search = _Search(tour)
    search.descend(list(tour.t))
    before = tour.t[:]
    search.perturb(random.Random(seed), 3)
    path = tour.path()
    assert sorted(path.tolist()) == list(range(n))
    assert tour.length == pytest.approx(path_length(dist, path), abs=1e-9)
    assert tour.t != before


def test_a_kick_repaired_back_to_its_length_stops_the_descent():
    """After a kick, the descent returns as soon as a move restores the kicked length."""
    dist = _line(30)
    tour = _Tour(dist, np.arange(30), 5)  # the optimum: no move improves it
    search = _Search(tour)
    tour.set_path([*range(10), 11, 10, *range(12, 30)])  # one move puts 10 and 11 back
    assert tour.length == pytest.approx(435.0 + 22.0)  # 21 + 11 + 23 for 10 + 11 + 12
    calls: list[int] = []
    improve = search.improve
    search.improve = lambda node: calls.append(node) or improve(node)  # type: ignore[method-assign]
    search.descend(list(tour.t), back_to=435.0)
    assert tour.length == pytest.approx(435.0)
    assert tour.path().tolist() in (list(range(30)), list(range(29, -1, -1)))
    assert len(calls) < 31  # stopped before the rest of the queue
    calls.clear()
    tour.set_path([*range(10), 11, 10, *range(12, 30)])
    search.descend(list(tour.t))
    assert len(calls) >= 31  # without back_to, every queued node is searched
