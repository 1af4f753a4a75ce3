"""Bad input: one OrderingError (a ValueError) naming the parameter and the bad value."""

from __future__ import annotations

import numpy as np
import pytest

import ordering
from ordering import OrderingError, fit_order


@pytest.mark.parametrize(
    ("volume", "method", "params", "match"),
    [
        (np.ones((4, 3, 3)), "kmeans-row", {"n_clusters": 5}, r"n_clusters=5 .*\(n_samples=4\)"),
        (np.ones((4, 3, 3)), "olo", {"n_clusters": 5}, "n_clusters=5"),
        (np.zeros((4, 3, 3)), "kmeans-row", {"n_clusters": 2}, "n_clusters=2 .*distinct"),
        (np.zeros((0, 3, 3)), "best", {}, r"0 channels \(shape \(0, 3, 3\)\)"),
        (np.zeros((2, 0, 3, 3)), "tsp", {}, r"0 channels \(shape \(2, 0, 3, 3\)\)"),
        (np.ones((5, 4)), "best", {}, r"2D array of shape \(5, 4\)"),
        (np.ones(5), "best", {}, "1D array"),
        (np.ones((3, 2, 2)), "sorting-hat", {}, "method='sorting-hat'"),
        (np.ones((3, 2, 2)), "tsp", {"k": 3}, "unknown parameter 'k'"),
        (np.ones((3, 2, 2)), "tsp", {"metric": "manhattan"}, "metric='manhattan'"),
        (np.ones((3, 2, 2)), "tsp", {"normalize": "unit"}, "normalize='unit'"),
        (np.ones((3, 2, 2)), "tsp", {"start": "random"}, "start='random'"),
        (np.ones((3, 2, 2)), "tsp", {"n_kicks": -1}, "n_kicks=-1"),
        (np.ones((3, 2, 2)), "olo", {"linkage": "ward"}, "linkage='ward'"),
        (np.ones((3, 2, 2)), "spectral", {"scale": 0}, "scale=0"),
        (np.ones((3, 2, 2)), "pca-row", {"row": 2}, "row=2 is out of range"),
        (np.ones((3, 2, 2)), "kmeans-row", {"n_clusters": 0}, "n_clusters=0"),
    ],
)
def test_bad_input(volume, method, params, match):
    with pytest.raises(OrderingError, match=match):
        fit_order(volume, method, **params)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("method", list(ordering.METHODS))
def test_non_finite_maps(bad, method):
    volume = np.random.default_rng(0).random((5, 3, 4))
    volume[3, 0, 0] = bad  # not on the middle row: row methods must still see it
    kind = "NaN" if np.isnan(bad) else "inf"
    with pytest.raises(OrderingError, match=f"channel 3 contains {kind}"):
        fit_order(volume, method, **({"n_clusters": 2} if method == "kmeans-row" else {}))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"metric": "correlation"}, "channel 2 is constant .*metric='correlation'"),
        ({"normalize": "zscore"}, "channel 2 is constant .*normalize='zscore'"),
        ({"normalize": "minmax"}, "channel 2 is constant .*normalize='minmax'"),
    ],
)
def test_constant_maps_where_undefined(params, match):
    volume = np.random.default_rng(0).random((5, 3, 4))
    volume[2] = 7.0
    with pytest.raises(OrderingError, match=match):
        fit_order(volume, "olo", **params)


@pytest.mark.parametrize("params", [{"metric": "cosine"}, {"normalize": "l2"}])
def test_zero_maps_where_undefined(params):
    volume = np.random.default_rng(0).random((5, 3, 4))
    volume[4] = 0.0
    with pytest.raises(OrderingError, match="channel 4 is all-zero"):
        fit_order(volume, "tsp", **params)


def test_dead_channels_are_fine_with_euclidean_distances():
    volume = np.random.default_rng(0).random((6, 3, 4))
    volume[[1, 4]] = 0.0  # ReLU layers often have dead channels
    est = fit_order(volume, "best")
    assert abs(int(est.position_[1]) - int(est.position_[4])) == 1


def test_errors_are_value_errors():
    assert issubclass(OrderingError, ValueError)


def test_reorder_checks_the_channel_count(structured):
    est = fit_order(structured, "olo")
    with pytest.raises(OrderingError, match="expected 40 channels on axis 0"):
        est.reorder(structured[:5])
    with pytest.raises(OrderingError, match="expected 40 channels on axis 1"):
        est.reorder(structured[None, :5])


def test_unfitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ordering.TSPOrdering().reorder(np.ones((3, 2, 2)))
