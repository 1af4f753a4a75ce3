"""Shared estimator machinery: validation, the fitted attributes every ordering sets, reorder."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ordering._errors import OrderingError
from ordering._input import check_finite, check_metric, distance_matrix, items_from_volume
from ordering.metrics import order_metrics


class OrderingEstimator(BaseEstimator):
    """Base class: ``fit(X)`` sets ``order_``, ``position_``, ``boundaries_`` and ``metrics_``.

    Subclasses implement ``_fit_items(items, dist)`` and return the permutation; they may set
    extra fitted attributes (``labels_``, ``components_``, ``boundaries_``, ...) there. With the
    class attribute ``_uses_rows = True`` the items are one row of every map (the ``row``
    parameter); the distance matrix and the metrics always use whole maps, so that all methods
    are judged in the same space (``metric`` and ``normalize``).
    """

    _uses_rows = False

    def fit(self, X: Any, y: object = None) -> OrderingEstimator:
        """Order the channels of ``X``.

        Parameters
        ----------
        X : array-like of shape (C, H, W), (N, C, H, W) or (n_items, n_features)
            One volume, a stack of N volumes (channels are ordered over all images), or items
            x features (scikit-learn protocol; one row per item).
        y : None
            Ignored.

        Returns
        -------
        self : OrderingEstimator
            Fitted; ``order_[i]`` is the original channel shown at position ``i``.
        """
        check_metric(self.metric, self.normalize)
        self._check_params()
        row = getattr(self, "row", None)
        items = self._validate(X, row=row, whole_rows=self._uses_rows)
        whole = items
        if self._uses_rows and np.ndim(X) > 2:
            whole = np.asarray(items_from_volume(X), dtype=np.float64)
            check_finite(whole)
        dist = distance_matrix(whole, metric=self.metric, normalize=self.normalize)
        self.boundaries_ = np.zeros(0, dtype=np.int64)
        order = np.asarray(self._fit_items(items, dist), dtype=np.int64)
        if not dist.any():  # identical items (a constant volume): no order is shorter
            order = np.arange(dist.shape[0], dtype=np.int64)  # so keep the original one
            self.boundaries_ = np.zeros(0, dtype=np.int64)
        self.order_ = order
        self.position_ = np.argsort(order, kind="stable").astype(np.int64)
        self._metrics: dict[str, Any] | None = None
        self._dist: np.ndarray | None = dist  # until the metrics are read
        return self

    @property
    def metrics_(self) -> dict[str, Any]:
        """Quality of ``order_`` (:func:`ordering.metrics.order_metrics`), computed when first
        read: its anti-Robinson count costs more than a short search (0.8 s for 1,280
        channels), and callers that only want the order never pay it. The distance matrix
        is kept until then."""
        check_is_fitted(self, "order_")
        if self._metrics is None:
            assert self._dist is not None
            self._metrics = order_metrics(self._dist, self.order_)
            self._dist = None
        return self._metrics

    def _validate(self, X: Any, *, row: Any, whole_rows: bool) -> np.ndarray:
        items = items_from_volume(X, row=row, whole_rows=whole_rows)
        try:
            items = validate_data(
                self, items, dtype=[np.float64, np.float32], ensure_all_finite=False
            )
        except ValueError as exc:
            if isinstance(exc, OrderingError):
                raise
            raise OrderingError(str(exc)) from exc
        items = np.asarray(items, dtype=np.float64)
        check_finite(items)
        return items

    def _check_params(self) -> None:
        """Validate subclass parameters (raise OrderingError naming the parameter)."""

    def _fit_items(self, items: np.ndarray, dist: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reorder(self, X: Any) -> np.ndarray:
        """Return ``X`` with its channels in fitted order (data is copied, never modified).

        Parameters
        ----------
        X : array-like of shape (C, H, W), (N, C, H, W) or (C, n_features)
            Must have the fitted number of channels (axis 1 for a 4D stack, else axis 0).

        Returns
        -------
        reordered : ndarray of the same shape
            ``reordered[..., i, ...]`` is original channel ``order_[i]``.
        """
        check_is_fitted(self)
        arr = np.asarray(X)
        axis = 1 if arr.ndim == 4 else 0
        if arr.ndim < 2 or arr.shape[axis] != self.order_.size:
            msg = f"X has shape {arr.shape}; expected {self.order_.size} channels on axis {axis}"
            raise OrderingError(msg)
        return np.take(arr, self.order_, axis=axis)


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> None:
    """Raise OrderingError unless ``value`` is an int >= ``minimum`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        msg = f"{name}={value!r} must be an integer >= {minimum}"
        raise OrderingError(msg)


def orient_direction(order: np.ndarray) -> np.ndarray:
    """Seriation paths are reversible: report the direction whose first index is the smaller."""
    order = np.asarray(order, dtype=np.int64)
    return order[::-1].copy() if order.size > 1 and order[0] > order[-1] else order


def orient_component(component: np.ndarray) -> np.ndarray:
    """Fixed PCA sign: entries sum to <= 0 (largest-magnitude entry negative on a tie).

    Scoring items by the dot product with a component oriented this way puts the items with the
    largest total response first. It is the orientation of CNN-VIS's ``vis_pca.vox``.
    """
    total = component.sum()
    if abs(total) <= 1e-12 * np.abs(component).sum():
        total = component[int(np.argmax(np.abs(component)))]
    return -component if total > 0 else component


def boundaries_from_labels(labels_in_order: np.ndarray) -> np.ndarray:
    """Positions ``p`` (in the ordered sequence) where a new cluster starts; p > 0."""
    change = np.flatnonzero(labels_in_order[1:] != labels_in_order[:-1]) + 1
    return change.astype(np.int64)
