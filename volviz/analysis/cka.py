"""Centered kernel alignment (CKA): how alike two layers' representations of the same inputs are.

CKA (Kornblith et al., 2019) compares the n x n similarity structure (Gram matrices) that two
layers give n inputs: ``CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))``. It is 1 for
identical representations, invariant to orthogonal transforms and isotropic scaling of the
features, and not to arbitrary invertible linear maps. Features are an image's whole
activation (C x H x W flattened), so layers of any shape can be compared.

Kernels: ``linear`` (``K = X X^T``) and ``rbf`` (``exp(-d^2 / (2 t^2 median(d^2)))``, the
bandwidth a fraction ``t`` of the median squared distance between the inputs, as Kornblith et
al. do; with minibatches the median is taken within each minibatch).

Estimators:
- ``cka(x, y)``: the full-batch (biased) estimator on centred Gram matrices;
- ``cka(x, y, unbiased=True)``: with the unbiased HSIC of Song et al. (2012);
- ``MinibatchCKA``: the minibatch estimator of Nguyen, Raghu & Kornblith (2021), which sums
  unbiased HSIC over minibatches, so any number of images is streamed with the memory of one
  minibatch: ``sum_b HSIC1(K_b, L_b) / sqrt(sum_b HSIC1(K_b, K_b) sum_b HSIC1(L_b, L_b))``.
  With one minibatch holding every image it equals the unbiased full-batch estimator.

numpy only; reading stores lives in ``volviz.analysis.similarity``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from volviz.errors import InputError

KINDS = ("linear", "rbf")
MIN_BATCH = 4  # the unbiased HSIC divides by n (n - 3)


def features(x: np.ndarray) -> np.ndarray:
    """(n, ...) activations as an (n, p) float matrix (one row per input)."""
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] < 2:
        msg = f"features of shape {x.shape}: need (n >= 2 inputs, features...)"
        raise InputError(msg)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x.reshape(x.shape[0], -1)


def gram(x: np.ndarray, kind: str = "linear", *, threshold: float = 1.0) -> np.ndarray:
    """(n, n) float64 Gram matrix of the rows of ``x`` (n, ...) under the ``kind`` kernel.

    The product runs in ``x``'s dtype (float32 activations use fast float32 BLAS).
    """
    check_kind(kind)
    f = features(x)
    return kernel_from_linear((f @ f.T).astype(np.float64), kind, threshold=threshold)


def kernel_from_linear(k: np.ndarray, kind: str, *, threshold: float = 1.0) -> np.ndarray:
    """The ``kind`` Gram matrix from the linear one (``X X^T``, which can be summed over
    blocks of features, so a layer never needs to be in memory whole)."""
    check_kind(kind)
    if kind == "linear":
        return k
    if threshold <= 0:
        msg = "must be > 0 (the RBF bandwidth as a fraction of the median)"
        raise InputError(msg, param="threshold", value=threshold)
    sq = np.diag(k)
    dist = np.clip(sq[:, None] + sq[None, :] - 2 * k, 0.0, None)
    off = dist[~np.eye(len(dist), dtype=bool)]
    median = float(np.median(off))
    if median == 0.0:  # every input alike: the kernel is all ones
        return np.ones_like(dist)
    return np.exp(-dist / (2 * threshold**2 * median))


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InputError(f"is not one of {', '.join(KINDS)}", param="kind", value=kind)


def hsic_biased(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """``tr(K H L H) / (n - 1)^2`` with ``H`` the centring matrix."""
    n = len(k)
    return float(np.sum(_center(k) * _center(l))) / (n - 1) ** 2


def hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """Unbiased HSIC (Song et al., 2012) of two (n, n) Gram matrices, n >= 4."""
    s = _GramSums.of([k])
    t = _GramSums.of([l])
    return float(_hsic1(s, t)[0, 0])


def cka(
    x: np.ndarray,
    y: np.ndarray,
    *,
    kind: str = "linear",
    threshold: float = 1.0,
    unbiased: bool = False,
) -> float:
    """CKA between two representations of the same n inputs (full batch).

    Parameters
    ----------
    x, y : ndarray of shape (n, ...)
        Row i of each is input i (any trailing shape; flattened).
    kind : {"linear", "rbf"}
    threshold : float
        RBF bandwidth as a fraction of the median distance.
    unbiased : bool
        Use the unbiased HSIC estimator (n >= 4).
    """
    if len(x) != len(y):
        msg = f"x has {len(x)} inputs and y {len(y)}; CKA compares the same inputs"
        raise InputError(msg)
    k, l = gram(x, kind, threshold=threshold), gram(y, kind, threshold=threshold)  # noqa: E741
    hsic = hsic_unbiased if unbiased else hsic_biased
    if unbiased and len(k) < MIN_BATCH:
        msg = f"unbiased CKA needs at least {MIN_BATCH} inputs, got {len(k)}"
        raise InputError(msg)
    return _ratio(hsic(k, l), hsic(k, k), hsic(l, l))


def _ratio(kl: float, kk: float, ll: float) -> float:
    denom = np.sqrt(kk * ll) if kk > 0 and ll > 0 else 0.0
    return float(kl / denom) if denom > 0 else float("nan")


def _center(k: np.ndarray) -> np.ndarray:
    return k - k.mean(axis=0, keepdims=True) - k.mean(axis=1, keepdims=True) + k.mean()


class _GramSums:
    """What the unbiased HSIC needs of each Gram matrix (diagonal zeroed): the matrix itself
    (flattened, for traces), its row sums and its total."""

    def __init__(self, flat: np.ndarray, rows: np.ndarray, total: np.ndarray, n: int) -> None:
        self.flat, self.rows, self.total, self.n = flat, rows, total, n

    @classmethod
    def of(cls, grams: Sequence[np.ndarray]) -> _GramSums:
        n = len(grams[0])
        stack = np.stack([np.asarray(g, dtype=np.float64) for g in grams])
        stack[:, np.arange(n), np.arange(n)] = 0.0
        rows = stack.sum(axis=2)
        return cls(stack.reshape(len(grams), -1), rows, rows.sum(axis=1), n)


def _hsic1(a: _GramSums, b: _GramSums) -> np.ndarray:
    """Unbiased HSIC of every Gram of ``a`` with every Gram of ``b``: (len(a), len(b))."""
    n = a.n
    trace = a.flat @ b.flat.T
    totals = np.outer(a.total, b.total) / ((n - 1) * (n - 2))
    rows = 2.0 * (a.rows @ b.rows.T) / (n - 2)
    return (trace + totals - rows) / (n * (n - 3))


def _hsic1_self(a: _GramSums) -> np.ndarray:
    """The diagonal of ``_hsic1(a, a)`` without the off-diagonal work."""
    n = a.n
    trace = np.einsum("ij,ij->i", a.flat, a.flat)
    totals = a.total**2 / ((n - 1) * (n - 2))
    rows = 2.0 * np.einsum("ij,ij->i", a.rows, a.rows) / (n - 2)
    return (trace + totals - rows) / (n * (n - 3))


class MinibatchCKA:
    """Streaming CKA between ``n_rows`` and ``n_cols`` representations (Nguyen et al., 2021).

    Call ``update`` once per minibatch with the Gram matrices of that minibatch's inputs
    (one per representation, all over the same inputs), then read ``result()``. Memory is
    that of one minibatch's Gram matrices, whatever the number of images.

    Parameters
    ----------
    n_rows, n_cols : int
        How many representations on each side; ``n_cols=None`` compares the rows with
        themselves (a symmetric layers x layers matrix, each Gram used once).
    """

    def __init__(self, n_rows: int, n_cols: int | None = None) -> None:
        self.symmetric = n_cols is None
        cols = n_rows if n_cols is None else n_cols
        self.cross = np.zeros((n_rows, cols))
        self.self_rows = np.zeros(n_rows)
        self.self_cols = np.zeros(cols)
        self.n_inputs = 0
        self.n_batches = 0

    def update(self, rows: Sequence[np.ndarray], cols: Sequence[np.ndarray] | None = None) -> None:
        """Add one minibatch: Gram matrices (m, m), m >= 4, of the same m inputs."""
        m = len(rows[0])
        if m < MIN_BATCH:
            msg = f"a minibatch of {m} inputs; the unbiased estimator needs at least {MIN_BATCH}"
            raise InputError(msg)
        a = _GramSums.of(rows)
        b = a if cols is None else _GramSums.of(cols)
        if len(a.rows) != len(self.self_rows) or len(b.rows) != len(self.self_cols):
            msg = f"update with {len(a.rows)} x {len(b.rows)} Gram matrices, expected {self.shape}"
            raise InputError(msg)
        if b.n != m:
            msg = f"row Grams are over {m} inputs, column Grams over {b.n}"
            raise InputError(msg)
        self.cross += _hsic1(a, b)
        self.self_rows += _hsic1_self(a)
        self.self_cols[:] = self.self_rows if cols is None else self.self_cols + _hsic1_self(b)
        self.n_inputs += m
        self.n_batches += 1

    @property
    def shape(self) -> tuple[int, int]:
        return self.cross.shape[0], self.cross.shape[1]

    def result(self) -> np.ndarray:
        """(n_rows, n_cols) CKA; NaN where a representation is constant on every minibatch."""
        if self.n_batches == 0:
            msg = "no minibatch was added"
            raise InputError(msg)
        with np.errstate(invalid="ignore", divide="ignore"):
            denom = np.sqrt(np.outer(self.self_rows, self.self_cols))
            out = np.where(denom > 0, self.cross / np.where(denom > 0, denom, 1.0), np.nan)
        return out


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """Split ``n`` inputs into contiguous minibatches of ``batch_size`` to ``2 batch_size - 1``
    inputs (never fewer than 4: the last, short one is merged)."""
    if batch_size < MIN_BATCH:
        msg = f"must be at least {MIN_BATCH} (unbiased HSIC)"
        raise InputError(msg, param="batch_size", value=batch_size)
    if n < MIN_BATCH:
        msg = f"CKA needs at least {MIN_BATCH} shared inputs, got {n}"
        raise InputError(msg)
    parts = max(1, n // batch_size)
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return [(int(edges[i]), int(edges[i + 1])) for i in range(parts)]
