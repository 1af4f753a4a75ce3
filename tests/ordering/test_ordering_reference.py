"""CNN-VIS reference data: the exact vis_pca.vox permutation and the ordering yardstick."""

from __future__ import annotations

import numpy as np
import pytest

from ordering import distance_matrix, fit_order
from ordering.metrics import held_karp_bound, mst_bound, path_length


@pytest.mark.slow
def test_cnnvis_pca_reproduces_vis_pca_vox_exactly(conv1_cat, vis_pca):
    est = fit_order(conv1_cat, "cnnvis-pca")
    assert np.rint(conv1_cat[est.order_]).astype(np.uint8).tobytes() == vis_pca.tobytes()
    assert est.components_.shape == (1, 55 * 55)
    assert np.all(np.diff(est.scores_[est.order_]) >= 0)


@pytest.mark.slow
def test_yardstick_numbers(conv1_cat):
    metrics = fit_order(conv1_cat, "cnnvis-pca").metrics_
    assert round(metrics["original_path_length"]) == 51_553
    assert round(metrics["mst_bound"]) == 28_774
    assert round(metrics["path_length"]) == 42_405
    assert round(fit_order(conv1_cat, "olo").metrics_["path_length"]) == 37_896


@pytest.mark.slow
def test_best_is_near_the_held_karp_bound(conv1_cat):
    """1.10 x MST (31,650) is out of reach: the Held-Karp bound proves every order of conv1
    is >= 1.165 x MST; best gets within 0.1 % of that bound."""
    dist = distance_matrix(conv1_cat.reshape(96, -1))
    best = fit_order(conv1_cat, "best")
    bound = held_karp_bound(dist)
    assert bound > 1.16 * mst_bound(dist)
    assert bound <= best.metrics_["path_length"] <= 1.001 * bound
    assert path_length(dist, best.order_) == pytest.approx(best.metrics_["path_length"])
