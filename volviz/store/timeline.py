"""Read a tracked training run (``volviz.track``): steps, volumes over time, change metrics."""

from __future__ import annotations

import h5py
import numpy as np

from volviz.errors import StoreError
from volviz.store.reader import Store
from volviz.store.schema import check


class Timeline:
    """Time series of a store written by ``volviz.track``; ``refresh()`` follows a live run.

    Every read stops at ``n_steps``, the count of complete records when the timeline was
    opened or last refreshed, so a record that lands meanwhile is never half seen.
    """

    def __init__(self, store: Store) -> None:
        if "timeline" not in store.file:
            msg = f"{store.path.name} holds no timeline (write one with volviz.track)"
            raise StoreError(msg)
        self.store = store
        self.group = store.file["timeline"]
        check(self.group, "timeline")
        self._step = store.dataset("/timeline/step")
        self._columns = {k: store.dataset(f"/timeline/{k}") for k in self.group if k != "step"}
        self._series: dict[tuple[str, str], h5py.Dataset] = {}
        self._n = int(self._step.shape[0])
        if store.swmr:
            self.refresh()

    def refresh(self) -> int:
        """Re-read dataset extents written since opening (SWMR); return the step count.

        The ``step`` column goes first: a writer appends it last in each record, so every
        other dataset, refreshed after it, holds at least that many records.
        """
        self._step.refresh()
        self._n = int(self._step.shape[0])
        for ds in (*self._columns.values(), *self._series.values()):
            ds.refresh()
        return self._n

    @property
    def n_steps(self) -> int:
        """Complete records (the length of the ``step`` column at the last refresh)."""
        return self._n

    @property
    def steps(self) -> np.ndarray:
        return self._step[: self._n]

    @property
    def epochs(self) -> np.ndarray:
        return self._columns["epoch"][: self._n]

    @property
    def loss(self) -> np.ndarray:
        return self._columns["loss"][: self._n]

    def record(self, t: int) -> tuple[int, int, float]:
        """(step, epoch, loss) of record ``t``, reading only that record."""
        t = self._index(t)
        epoch, loss = self._columns["epoch"], self._columns["loss"]
        return int(self._step[t]), int(epoch[t]), float(loss[t])

    def volume(self, layer: str, image: int, t: int) -> np.ndarray:
        """(C, H, W) float32 of ``layer`` for probe ``image`` at record ``t``."""
        ds = self._dataset(layer, "timeline_activations")
        return np.asarray(ds[self._index(t), image], dtype=np.float32)

    def volumes(
        self, layer: str, image: int, start: int = 0, stop: int | None = None
    ) -> np.ndarray:
        """(T, C, H, W) float32 of ``layer`` for probe ``image``, records ``start:stop``."""
        stop = self._n if stop is None else min(stop, self._n)
        ds = self._dataset(layer, "timeline_activations")
        return np.asarray(ds[start:stop, image], dtype=np.float32)

    def activations(self, layer: str) -> np.ndarray:
        """(T, N, C, H, W) of all complete records."""
        return self._dataset(layer, "timeline_activations")[: self._n]

    def weights(self, layer: str) -> np.ndarray:
        """(T, O, I, kh, kw) conv weights over time."""
        return self._dataset(layer, "weight")[: self._n]

    def weight_grads(self, layer: str) -> np.ndarray:
        """(T, O, I, kh, kw) weight gradients over time (NaN where none existed)."""
        return self._dataset(layer, "weight_grad")[: self._n]

    def _index(self, t: int) -> int:
        if not -self._n <= t < self._n:
            msg = f"is out of range: {self._n} steps recorded"
            raise StoreError(msg, param="step", value=t)
        return t % self._n

    def _dataset(self, layer: str, name: str) -> h5py.Dataset:
        if (layer, name) not in self._series:
            group = self.store.layer_group(layer)
            if name not in group:
                msg = f"layer {layer!r} has no {name} series (not a conv layer, or not tracked)"
                raise StoreError(msg)
            ds = self.store.dataset(f"{group.name}/{name}")
            if self.store.swmr:  # opened after the step column was read: at least as new
                ds.refresh()
            self._series[layer, name] = ds
        return self._series[layer, name]


def weight_drift(weights: np.ndarray) -> np.ndarray:
    """(T, O): ``||W_t[o] - W_0[o]|| / ||W_0[o]||`` per filter, from (T, O, I, kh, kw)."""
    w = np.asarray(weights, dtype=np.float64)
    flat = w.reshape(w.shape[0], w.shape[1], -1)
    base = np.linalg.norm(flat[0], axis=1)
    change = np.linalg.norm(flat - flat[0], axis=2)
    return change / np.where(base > 0, base, 1.0)


def activation_change(acts: np.ndarray) -> np.ndarray:
    """(T, C): mean |A_t - A_(t-1)| per channel over probe images and positions (0 at t=0)."""
    a = np.asarray(acts, dtype=np.float64)
    out = np.zeros((a.shape[0], a.shape[2]))
    if a.shape[0] > 1:
        out[1:] = np.abs(np.diff(a, axis=0)).mean(axis=(1, 3, 4))
    return out
