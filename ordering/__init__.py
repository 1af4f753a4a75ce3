"""Channel orderings for (C, H, W) volumes: numpy in, permutation out (no torch, no h5py).

Every ordering is a scikit-learn estimator. ``fit(X)`` takes one volume (C, H, W), a stack
(N, C, H, W) whose channels are ordered over all N images (a channel's features are its N maps
concatenated), or, for the scikit-learn protocol, a 2D (items, features) array. It sets
``order_`` (int64; ``order_[i]`` is the original channel shown at position ``i``),
``position_`` (the inverse), ``boundaries_`` (positions where a new cluster starts, for
separators; empty when the method has no clusters) and ``metrics_`` (a JSON-ready dict, see
:mod:`ordering.metrics`). ``reorder(X)`` returns a reordered copy; data is never modified.

Methods (``METHODS`` name -> class):

==============  ======================  =================================================
name            class                   what
==============  ======================  =================================================
"cnnvis-pca"    WholeMapPCA             CNN-VIS PCA on whole maps (reproduces vis_pca.vox)
"kmeans-row"    RowKMeans               CNN-VIS k-means on one row slice, grouped by cluster
"pca-row"       RowPCA                  CNN-VIS PCA on one standardized row slice
"olo"           OptimalLeafOrdering     hierarchical clustering + optimal leaf ordering
"spectral"      SpectralOrdering        Fiedler vector of a similarity graph
"tsp"           TSPOrdering             greedy edges + 2-opt/or-opt + kicks (shortest path)
"best"          BestOrdering            LK-style iterated local search (shortest path)
==============  ======================  =================================================

All take ``metric`` ("euclidean", "correlation", "cosine") and ``normalize`` (None, "zscore",
"l2", "minmax", per map). Bad input raises :class:`OrderingError` (a ValueError) whose message
names the parameter and value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ordering._base import OrderingEstimator
from ordering._errors import OrderingError
from ordering._input import distance_matrix
from ordering.cnnvis import RowKMeans, RowPCA, WholeMapPCA
from ordering.seriation import BestOrdering, OptimalLeafOrdering, SpectralOrdering, TSPOrdering

METHODS: dict[str, type[OrderingEstimator]] = {
    "cnnvis-pca": WholeMapPCA,
    "kmeans-row": RowKMeans,
    "pca-row": RowPCA,
    "olo": OptimalLeafOrdering,
    "spectral": SpectralOrdering,
    "tsp": TSPOrdering,
    "best": BestOrdering,
}


def make_ordering(method: str = "best", **params: Any) -> OrderingEstimator:
    """Build the estimator registered as ``method`` with ``params``.

    Raises
    ------
    OrderingError
        Unknown method or parameter (the message lists the valid ones).
    """
    if method not in METHODS:
        msg = f"method={method!r} is not one of {', '.join(map(repr, METHODS))}"
        raise OrderingError(msg)
    estimator = METHODS[method]()
    valid = estimator.get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        msg = (
            f"unknown parameter {unknown[0]!r} for method={method!r}; "
            f"valid: {', '.join(sorted(valid))}"
        )
        raise OrderingError(msg)
    return estimator.set_params(**params)


def fit_order(volume: Any, method: str = "best", **params: Any) -> OrderingEstimator:
    """Order the channels of a volume (C, H, W) or of a stack of volumes (N, C, H, W).

    Parameters
    ----------
    volume : array-like of shape (C, H, W) or (N, C, H, W)
        Feature maps, raw. A bare 2D array is rejected: it is ambiguous (one map, or flattened
        maps?); pass ``volume[:, None, :]`` for flattened maps, or use an estimator directly.
    method : str, default="best"
        A key of :data:`METHODS`.
    **params
        Parameters of that estimator.

    Returns
    -------
    estimator : OrderingEstimator
        Fitted; read ``order_`` and ``metrics_``.
    """
    estimator = make_ordering(method, **params)
    ndim = np.ndim(volume)
    if ndim not in (3, 4):
        msg = (
            f"volume must be (C, H, W) or (N, C, H, W); got a {ndim}D array of shape "
            f"{np.shape(volume)}"
        )
        if ndim == 2:
            msg += " (for flattened maps pass volume[:, None, :])"
        raise OrderingError(msg)
    return estimator.fit(volume)


__all__ = [
    "METHODS",
    "BestOrdering",
    "OptimalLeafOrdering",
    "OrderingError",
    "OrderingEstimator",
    "RowKMeans",
    "RowPCA",
    "SpectralOrdering",
    "TSPOrdering",
    "WholeMapPCA",
    "distance_matrix",
    "fit_order",
    "make_ordering",
]
