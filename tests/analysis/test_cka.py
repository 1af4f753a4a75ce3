"""CKA: known answers, invariances, and the minibatch estimator against the full-batch one."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from volviz.analysis.cka import (
    MinibatchCKA,
    batch_bounds,
    cka,
    gram,
    hsic_unbiased,
)
from volviz.errors import InputError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 12))


@pytest.mark.parametrize("kind", ["linear", "rbf"])
@pytest.mark.parametrize("unbiased", [False, True])
def test_cka_of_a_representation_with_itself_is_one(kind, unbiased):
    assert cka(X, X, kind=kind, unbiased=unbiased) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("kind", ["linear", "rbf"])
def test_invariant_to_orthogonal_maps_and_isotropic_scaling_not_to_any_linear_map(kind):
    q, _ = np.linalg.qr(RNG.normal(size=(12, 12)))
    assert cka(X, X @ q, kind=kind) == pytest.approx(1.0, abs=1e-10)
    assert cka(X, 3.5 * X, kind=kind) == pytest.approx(1.0, abs=1e-10)
    stretch = np.diag(np.geomspace(1.0, 1e3, 12))  # invertible, not orthogonal x scale
    assert cka(X, X @ stretch, kind=kind) < 0.9
    other = RNG.normal(size=(40, 12))
    assert cka(X, other, kind=kind) < 0.5


def test_hand_computed_linear_cka_of_one_feature_is_squared_correlation():
    # centred x = (-1, 0, 1), y = (-11, -2, 13)/3: <x,y>^2 / (|x|^2 |y|^2) = 64 / (2 * 294/9)
    x = np.array([[1.0], [2.0], [3.0]])
    y = np.array([[1.0], [4.0], [9.0]])
    assert cka(x, y) == pytest.approx(48 / 49, abs=1e-14)
    # Gram matrices, by hand
    np.testing.assert_array_equal(gram(x), [[1, 2, 3], [2, 4, 6], [3, 6, 9]])
    np.testing.assert_allclose(np.diag(gram(x, "rbf")), 1.0)
    # squared distances 1, 4, 1 (median 1): k = exp(-d^2 / 2)
    np.testing.assert_allclose(gram(x, "rbf")[0], np.exp(-np.array([0.0, 1.0, 4.0]) / 2))


def _hsic_u_statistic(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """Song et al. (2012)'s unbiased HSIC written as its three U-statistics, by brute force."""
    n = len(k)

    def mean(r: int, f) -> float:  # type: ignore[no-untyped-def]
        terms = [f(*idx) for idx in permutations(range(n), r)]
        return float(np.mean(terms))

    return (
        mean(2, lambda i, j: k[i, j] * l[i, j])
        + mean(4, lambda i, j, q, r: k[i, j] * l[q, r])
        - 2 * mean(3, lambda i, j, q: k[i, j] * l[i, q])
    )


def test_unbiased_hsic_matches_its_u_statistic_definition():
    a, b = RNG.normal(size=(6, 3)), RNG.normal(size=(6, 5))
    k, l = gram(a), gram(b, "rbf")  # noqa: E741
    assert hsic_unbiased(k, l) == pytest.approx(_hsic_u_statistic(k, l), rel=1e-10)
    assert hsic_unbiased(k, k) == pytest.approx(_hsic_u_statistic(k, k), rel=1e-10)


def _layers(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    base = rng.normal(size=(n, 6))
    return [
        base,
        np.tanh(base @ rng.normal(size=(6, 8))),
        base[:, :3] ** 2,
        rng.normal(size=(n, 4)),
    ]


def test_one_minibatch_of_everything_equals_the_unbiased_full_batch_estimator():
    reps = _layers(30, RNG)
    est = MinibatchCKA(len(reps))
    est.update([gram(r) for r in reps])
    got = est.result()
    for i, a in enumerate(reps):
        for j, b in enumerate(reps):
            assert got[i, j] == pytest.approx(cka(a, b, unbiased=True), abs=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["linear", "rbf"])
def test_streamed_minibatches_agree_with_the_full_batch_estimator(kind):
    rng = np.random.default_rng(1)
    reps = _layers(800, rng)
    full = np.array([[cka(a, b, kind=kind) for b in reps] for a in reps])
    est = MinibatchCKA(len(reps))
    for i0, i1 in batch_bounds(800, 100):
        est.update([gram(r[i0:i1], kind) for r in reps])
    assert est.n_inputs == 800 and est.n_batches == 8
    np.testing.assert_allclose(est.result(), full, atol=0.03)
    np.testing.assert_allclose(np.diag(est.result()), 1.0, atol=1e-12)
    assert np.ptp(full) > 0.5  # the matrix has structure to agree on


def test_rows_against_columns_matches_the_symmetric_matrix():
    reps = _layers(24, RNG)
    sym, cross = MinibatchCKA(4), MinibatchCKA(2, 2)
    for i0, i1 in batch_bounds(24, 8):
        grams = [gram(r[i0:i1]) for r in reps]
        sym.update(grams)
        cross.update(grams[:2], grams[2:])
    np.testing.assert_allclose(cross.result(), sym.result()[:2, 2:], rtol=1e-12)


def test_batches_and_errors():
    assert batch_bounds(5, 4) == [(0, 5)]
    assert batch_bounds(10, 4) == [(0, 5), (5, 10)]
    assert batch_bounds(1000, 256) == [(0, 333), (333, 667), (667, 1000)]
    with pytest.raises(InputError, match="at least 4 shared inputs, got 3"):
        batch_bounds(3, 4)
    with pytest.raises(InputError, match=r"^batch_size=2 must be at least 4"):
        batch_bounds(100, 2)
    with pytest.raises(InputError, match=r"^kind='cosine' is not one of linear, rbf"):
        cka(X, X, kind="cosine")
    with pytest.raises(InputError, match="x has 40 inputs and y 39"):
        cka(X, X[1:])
    with pytest.raises(InputError, match="needs at least 4"):
        MinibatchCKA(1).update([gram(X[:3])])
