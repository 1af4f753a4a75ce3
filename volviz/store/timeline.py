"""Read a tracked training run (``volviz.track``): steps, volumes over time, change metrics."""

from __future__ import annotations

import numpy as np

from volviz.errors import StoreError
from volviz.store.reader import Store
from volviz.store.schema import check


class Timeline:
    """Time series of a store written by ``volviz.track``; ``refresh()`` follows a live run."""

    def __init__(self, store: Store) -> None:
        if "timeline" not in store.file:
            msg = f"{store.path.name} holds no timeline (write one with volviz.track)"
            raise StoreError(msg)
        self.store = store
        self.group = store.file["timeline"]
        check(self.group, "timeline")

    def refresh(self) -> int:
        """Re-read dataset extents written since opening (SWMR); return the step count."""
        for ds in self.group.values():
            ds.refresh()
        for layer in self.store.layers:
            for ds in self.store.layer_group(layer).values():
                ds.refresh()
        return self.n_steps

    @property
    def n_steps(self) -> int:
        # The step column is written last in a record: its length counts complete records.
        return int(self.group["step"].shape[0])

    @property
    def steps(self) -> np.ndarray:
        return self.group["step"][: self.n_steps]

    @property
    def epochs(self) -> np.ndarray:
        return self.group["epoch"][: self.n_steps]

    @property
    def loss(self) -> np.ndarray:
        return self.group["loss"][: self.n_steps]

    def volume(self, layer: str, image: int, t: int) -> np.ndarray:
        """(C, H, W) float32 of ``layer`` for probe ``image`` at record ``t``."""
        ds = self._series(layer, "timeline_activations")
        if not -self.n_steps <= t < self.n_steps:
            msg = f"--step {t} is out of range: {self.n_steps} steps recorded"
            raise StoreError(msg)
        return np.asarray(ds[t % self.n_steps, image], dtype=np.float32)

    def activations(self, layer: str) -> np.ndarray:
        """(T, N, C, H, W) of all complete records."""
        return self._series(layer, "timeline_activations")[: self.n_steps]

    def weights(self, layer: str) -> np.ndarray:
        """(T, O, I, kh, kw) conv weights over time."""
        return self._series(layer, "weight")[: self.n_steps]

    def weight_grads(self, layer: str) -> np.ndarray:
        """(T, O, I, kh, kw) weight gradients over time (NaN where none existed)."""
        return self._series(layer, "weight_grad")[: self.n_steps]

    def _series(self, layer: str, name: str) -> np.ndarray:
        group = self.store.layer_group(layer)
        if name not in group:
            msg = f"layer {layer!r} has no {name} series (not a conv layer, or not tracked)"
            raise StoreError(msg)
        return group[name]


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
