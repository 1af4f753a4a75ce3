"""Watch layers change while a network trains: ``volviz.track``.

Every ``every`` steps (or when ``record`` is called, e.g. at each epoch's end) the tracker
runs a fixed probe batch through the model in eval mode without gradients, and appends to
the store the probe activations of the chosen layers, their conv weights and the weights'
current ``.grad`` (read, never changed). The file is written in place, in HDF5 SWMR mode:
readers (``volviz view --follow``) see complete steps while training goes on, and the
records completed before the training process died stay readable (``volviz.Store`` opens
such a file read-only in SWMR mode). ``/layers/<key>/activations`` holds the newest step,
so every viewer and exporter works on a closed file; it is rewritten in place at each
record, so live readers read the timeline datasets instead (docs/format.md).

The probe forward uses no random numbers and touches no gradient or running statistic, so a
tracked run trains exactly like an untracked one with the same seed (tested).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

from volviz.capture.extract import as_loaded, provenance
from volviz.capture.hooks import capture_outputs, eval_mode
from volviz.capture.layers import layer_attributes, resolve_layers
from volviz.errors import InputError
from volviz.store.schema import ACTIVATION_AXES, stamp
from volviz.store.writer import activation_chunks, check_target

TIME_AXES = ["step", *ACTIVATION_AXES]
WEIGHT_AXES = ["step", "filter", "input", "y", "x"]


class Tracker:
    """Appends probe activations, conv weights and weight gradients along a time axis."""

    def __init__(
        self,
        model: nn.Module,
        out: str | os.PathLike[str],
        probe: torch.Tensor,
        *,
        layers: Sequence[str] = ("conv",),
        every: int = 1,
        force: bool = False,
    ) -> None:
        if every < 1:
            msg = f"every={every} must be at least 1"
            raise InputError(msg)
        if probe.ndim != 4 or len(probe) == 0:
            msg = f"probe has shape {tuple(probe.shape)}, expected (N >= 1, C, H, W)"
            raise InputError(msg)
        self.model = model
        self.path = Path(out)
        check_target(self.path, force=force)
        self.names = resolve_layers(model, layers)
        self.probe = probe.detach().clone()
        self.every = every
        self.file: h5py.File | None = None
        self._datasets: dict[tuple[str, str], h5py.Dataset] = {}
        self.steps_recorded = 0

    def step(self, step: int, *, epoch: int = -1, loss: float = float("nan")) -> bool:
        """Record when ``step`` is a multiple of ``every``; call after ``loss.backward()``."""
        if step % self.every:
            return False
        self.record(step, epoch=epoch, loss=loss)
        return True

    def record(self, step: int, *, epoch: int = -1, loss: float = float("nan")) -> None:
        """Record now (e.g. at the end of each epoch)."""
        acts = self._probe_activations()
        modules = dict(self.model.named_modules())
        weights = {
            k: modules[k].weight
            for k in acts
            if "@" not in k and _conv_weight(modules.get(k)) is not None
        }
        if self.file is None:
            self._create(acts, weights)
        assert self.file is not None
        t = self.steps_recorded
        ds = self._datasets
        for key, value in acts.items():
            _append(ds[key, "timeline_activations"], t, value)
            if key in weights:
                w = weights[key]
                _append(ds[key, "weight"], t, w.detach().cpu().numpy())
                grad = w.grad
                g = np.full(w.shape, np.nan, np.float32) if grad is None else grad.cpu().numpy()
                _append(ds[key, "weight_grad"], t, g)
            newest = ds[key, "activations"]  # rewritten in place: see docs/format.md
            newest[...] = value
            newest.flush()
        # "step" goes last: its length is what readers count as complete records.
        columns = (("epoch", epoch), ("loss", loss), ("wall_time", time.time()), ("step", step))
        for key, item in columns:
            _append(ds["timeline", key], t, np.asarray(item))
        self.steps_recorded = t + 1
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def _probe_activations(self) -> dict[str, np.ndarray]:
        device = next(self.model.parameters(), torch.empty(0)).device
        with eval_mode(self.model), capture_outputs(self.model, self.names) as out, torch.no_grad():
            self.model(self.probe.to(device))
        arrays = {k: v.float().cpu().numpy() for k, v in out.items()}
        bad = [k for k, v in arrays.items() if v.ndim != 4]
        if bad:
            msg = (
                f"layer {bad[0]!r} outputs shape {arrays[bad[0]].shape}; volumes need (N, C, H, W)"
            )
            raise InputError(msg)
        return arrays

    def _create(self, acts: dict[str, np.ndarray], weights: dict[str, torch.Tensor]) -> None:
        self.path.unlink(missing_ok=True)  # check_target allowed it (force)
        f = h5py.File(self.path, "w", libver="latest")
        stamp(f, "volviz-store")
        loaded = as_loaded(self.model)
        for key, value in provenance(loaded, self.names, every=self.every).items():
            f.attrs[key] = value if isinstance(value, str | int | float) else _json(value)
        _inputs(f, self.probe)
        line = f.create_group("timeline")
        stamp(line, "timeline")
        for key, dtype in (("step", "i8"), ("epoch", "i8"), ("loss", "f8"), ("wall_time", "f8")):
            line.create_dataset(key, (0,), maxshape=(None,), dtype=dtype, chunks=(1024,))
        layers = f.create_group("layers")
        stamp(layers, "layers")
        modules = dict(self.model.named_modules())
        for index, (key, value) in enumerate(acts.items()):
            _layer(layers, key, index, value, modules, weights.get(key))
        f.swmr_mode = True  # from here on: only appends, which SWMR readers can follow
        self.file = f
        for key, group in (("timeline", line), *layers.items()):
            for name, ds in group.items():
                self._datasets[key, name] = ds


def _layer(
    layers: h5py.Group,
    key: str,
    index: int,
    value: np.ndarray,
    modules: dict[str, nn.Module],
    weight: torch.Tensor | None,
) -> None:
    name, _, call = key.partition("@")
    group = layers.create_group(key)
    stamp(group, "layer")
    group.attrs.update({"index": index, "module": name, "call": int(call or 0)})
    group.attrs.update(layer_attributes(modules[name]))
    n, c, h, w = value.shape
    chunks = (min(n, activation_chunks((c, h, w), 4)[0]), *activation_chunks((c, h, w), 4)[1:])
    latest = group.create_dataset("activations", (n, c, h, w), dtype="f4", chunks=chunks)
    stamp(latest, "activations")
    latest.attrs["axes"] = ACTIVATION_AXES
    series = group.create_dataset(
        "timeline_activations",
        (0, n, c, h, w),
        maxshape=(None, n, c, h, w),
        dtype="f4",
        chunks=(1, *chunks),
    )
    stamp(series, "timeline-activations")
    series.attrs["axes"] = TIME_AXES
    if weight is not None:
        for dname in ("weight", "weight_grad"):
            ds = group.create_dataset(
                dname,
                (0, *weight.shape),
                maxshape=(None, *weight.shape),
                dtype="f4",
                chunks=(1, *weight.shape),
            )
            stamp(ds, "timeline-weight")
            ds.attrs["axes"] = WEIGHT_AXES


def _inputs(f: h5py.File, probe: torch.Tensor) -> None:
    import hashlib

    group = f.create_group("inputs")
    stamp(group, "inputs")
    arrays = probe.float().cpu().numpy()
    columns = {
        "source": ["probe"] * len(arrays),
        "name": [f"probe[{i}]" for i in range(len(arrays))],
        "label": [""] * len(arrays),
        "sha256": [hashlib.sha256(a.tobytes()).hexdigest() for a in arrays],
    }
    for key, values in columns.items():
        group.create_dataset(key, data=values, dtype=h5py.string_dtype())


def _append(ds: h5py.Dataset, t: int, value: np.ndarray) -> None:
    ds.resize(t + 1, axis=0)
    ds[t] = value
    ds.flush()


def _conv_weight(module: nn.Module | None) -> torch.Tensor | None:
    weight = getattr(module, "weight", None)
    return weight if isinstance(weight, torch.Tensor) and weight.ndim == 4 else None


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


@contextmanager
def track(
    model: nn.Module,
    out: str | os.PathLike[str],
    *,
    probe: torch.Tensor,
    layers: Sequence[str] = ("conv",),
    every: int = 1,
    force: bool = False,
) -> Iterator[Tracker]:
    """Track ``layers`` of ``model`` on the ``probe`` batch into the store ``out``.

    Examples
    --------
    >>> with volviz.track(model, "run.h5", probe=x[:8], every=50) as tracker:  # doctest: +SKIP
    ...     for step, (x, y) in enumerate(batches):
    ...         loss = F.cross_entropy(model(x), y)
    ...         loss.backward()
    ...         tracker.step(step, epoch=epoch, loss=loss.item())
    ...         optimizer.step(); optimizer.zero_grad()
    """
    tracker = Tracker(model, out, probe, layers=layers, every=every, force=force)
    try:
        yield tracker
    finally:
        tracker.close()
