"""Estimator protocol, determinism and the behaviour every ordering shares."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

import ordering
from ordering import METHODS, fit_order

ALL = [cls() for cls in METHODS.values()]
SERIATION = ["olo", "spectral", "tsp", "best"]


@parametrize_with_checks(ALL)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("method", list(METHODS))
def test_fitted_attributes(method, make_volume):
    volume = make_volume()
    est = fit_order(volume, method, **({"n_clusters": 4} if method == "kmeans-row" else {}))
    n = volume.shape[0]
    assert est.order_.dtype == np.int64
    assert np.array_equal(np.sort(est.order_), np.arange(n))
    assert np.array_equal(est.order_[est.position_], np.arange(n))
    assert est.boundaries_.dtype == np.int64
    assert np.all((est.boundaries_ > 0) & (est.boundaries_ < n))
    assert np.array_equal(est.reorder(volume), volume[est.order_])
    metrics = est.metrics_
    assert json.loads(json.dumps(metrics)) == metrics
    assert all(type(v) in (int, float) for v in metrics.values())
    assert metrics["mst_bound"] <= metrics["path_length"] + 1e-9


def test_metrics_are_computed_once_when_first_read(make_volume, monkeypatch):
    import ordering._base as base
    from ordering.metrics import order_metrics

    calls = []
    monkeypatch.setattr(base, "order_metrics", lambda *a: calls.append(a) or order_metrics(*a))
    volume = make_volume(seed=2)
    est = fit_order(volume, "best", n_kicks=5)
    assert calls == []  # fitting alone never pays for the metrics
    expected = order_metrics(ordering.distance_matrix(volume.reshape(len(volume), -1)), est.order_)
    assert est.metrics_ == expected
    assert est.metrics_ is est.metrics_ and len(calls) == 1
    refit = est.fit(volume[::-1].copy())
    assert refit.metrics_ != expected and len(calls) == 2  # a new fit, new metrics


def test_metrics_of_an_unfitted_estimator_are_absent():
    assert not hasattr(ordering.make_ordering("best"), "metrics_")


@pytest.mark.parametrize("method", list(METHODS))
def test_deterministic(method, make_volume):
    volume = make_volume(seed=3)
    first = fit_order(volume, method)
    second = fit_order(volume.copy(), method)
    assert np.array_equal(first.order_, second.order_)
    assert first.metrics_ == second.metrics_


@pytest.mark.parametrize("method", list(METHODS))
def test_stack_of_one_image_equals_the_volume(method, make_volume):
    volume = make_volume(seed=4)
    single = fit_order(volume, method)
    stacked = fit_order(volume[None], method)
    assert np.array_equal(single.order_, stacked.order_)
    assert np.array_equal(stacked.reorder(volume[None])[0], volume[single.order_])


@pytest.mark.parametrize("method", SERIATION)
def test_seriation_direction_convention(method, make_volume):
    est = fit_order(make_volume(seed=5), method)
    assert est.order_[0] < est.order_[-1]


@pytest.mark.parametrize("metric", ["euclidean", "correlation", "cosine"])
@pytest.mark.parametrize("normalize", [None, "zscore", "l2", "minmax"])
def test_metric_and_normalization_options(metric, normalize, make_volume):
    volume = make_volume(seed=6)
    est = fit_order(volume, "best", metric=metric, normalize=normalize)
    items = volume.reshape(volume.shape[0], -1)
    dist = ordering.distance_matrix(items, metric=metric, normalize=normalize)
    assert est.metrics_["path_length"] == pytest.approx(
        ordering.metrics.path_length(dist, est.order_)
    )


def test_best_never_longer_than_the_fast_methods(make_volume):
    volume = make_volume(n_channels=60, seed=7)
    best = fit_order(volume, "best").metrics_["path_length"]
    for method in ("olo", "spectral", "tsp", "cnnvis-pca"):
        assert best <= fit_order(volume, method).metrics_["path_length"] + 1e-9


def test_stack_features_are_concatenated_maps(make_volume):
    stack = np.stack([make_volume(seed=8), make_volume(seed=9)])
    est = fit_order(stack, "olo")
    items = np.moveaxis(stack, 1, 0).reshape(stack.shape[1], -1)
    expected = ordering.OptimalLeafOrdering().fit(items)
    assert np.array_equal(est.order_, expected.order_)
    assert est.n_features_in_ == 2 * 6 * 6


def test_kmeans_groups_clusters_and_exposes_boundaries():
    rng = np.random.default_rng(0)
    centres = np.array([0.0, 10.0, 20.0])
    truth = rng.permutation(np.repeat([0, 1, 2], [5, 7, 3]))
    volume = centres[truth][:, None, None] + rng.random((truth.size, 5, 4))
    est = fit_order(volume, "kmeans-row", n_clusters=3, random_state=0)
    # Clusters are numbered by their first channel and every map is kept.
    first_seen = [int(np.flatnonzero(truth == c)[0]) for c in range(3)]
    expected = np.argsort(np.argsort(first_seen))[truth]
    assert np.array_equal(est.labels_, expected)
    sizes = np.bincount(est.labels_)
    assert np.array_equal(est.boundaries_, np.cumsum(sizes)[:-1])
    assert np.all(np.diff(est.labels_[est.order_]) >= 0)
    assert est.cluster_centers_.shape == (3, 4)


def test_kmeans_row_parameter_picks_the_row():
    volume = np.zeros((6, 3, 4))
    volume[:, 2, :] = np.array([0, 0, 0, 9, 9, 9])[:, None] + np.arange(6)[:, None] * 0.01
    volume[:, 0, :] = np.array([0, 9, 0, 9, 0, 9])[:, None]
    by_row0 = fit_order(volume, "kmeans-row", n_clusters=2, row=0)
    by_row2 = fit_order(volume, "kmeans-row", n_clusters=2, row=2)
    assert np.array_equal(by_row0.labels_, [0, 1, 0, 1, 0, 1])
    assert np.array_equal(by_row2.labels_, [0, 0, 0, 1, 1, 1])
    assert fit_order(volume[None], "kmeans-row", n_clusters=2, row=-1).n_features_in_ == 4


def test_pca_row_sorts_by_standardized_first_component():
    rng = np.random.default_rng(1)
    score = rng.permutation(12).astype(float)
    volume = rng.random((12, 5, 3)) * 0.01
    volume[:, 2, :] += score[:, None] * np.array([1.0, 2.0, 3.0])
    est = fit_order(volume, "pca-row")
    # Largest total response first (the package's PCA sign convention).
    assert np.array_equal(est.order_, np.argsort(-score, kind="stable"))
    assert est.explained_variance_ratio_ > 0.99


def test_olo_clusters_are_contiguous(make_volume):
    est = fit_order(make_volume(seed=10), "olo", n_clusters=4)
    in_order = est.labels_[est.order_]
    assert np.all(np.diff(in_order) >= 0)
    assert est.boundaries_.size == in_order.max()


def test_single_channel():
    for method in METHODS:
        est = fit_order(
            np.ones((1, 3, 3)), method, **({"n_clusters": 1} if method == "kmeans-row" else {})
        )
        assert np.array_equal(est.order_, [0])


def test_clone_keeps_params_and_refit_forgets_boundaries(make_volume):
    est = ordering.OptimalLeafOrdering(n_clusters=3).fit(make_volume())
    assert est.boundaries_.size > 0
    est.set_params(n_clusters=None).fit(make_volume())
    assert est.boundaries_.size == 0
    assert clone(est).get_params() == est.get_params()
