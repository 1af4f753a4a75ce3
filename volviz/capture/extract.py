"""Capture activations of chosen layers for many images, streamed batch by batch into a store."""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from volviz.capture.hooks import capture_outputs, eval_mode
from volviz.capture.inputs import resolve_inputs
from volviz.capture.layers import layer_attributes, resolve_layers
from volviz.capture.models import IMAGENET, LoadedModel, Preprocess
from volviz.errors import InputError
from volviz.store.writer import StoreWriter, check_target

Progress = Callable[[int, int], None]


def as_loaded(model: LoadedModel | nn.Module, preprocess: Preprocess | None = None) -> LoadedModel:
    """Wrap a bare ``nn.Module`` (Python API) so it can be captured like a named model."""
    if isinstance(model, LoadedModel):
        return model
    device = next(model.parameters(), torch.empty(0)).device
    return LoadedModel(
        type(model).__name__, model, preprocess or IMAGENET, [], "user module", None, None, device
    )


def capture(
    model: LoadedModel | nn.Module,
    inputs: Sequence[str] | torch.Tensor,
    out: str | os.PathLike[str],
    *,
    layers: Sequence[str] = ("conv",),
    batch_size: int = 16,
    dtype: str = "float32",
    compress: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    command: str = "",
) -> Path:
    """Run ``inputs`` through ``model`` and store the outputs of ``layers`` in ``out``.

    Parameters
    ----------
    model : LoadedModel or nn.Module
        From ``load_model``, or any module (its preprocessing is then ImageNet's).
    inputs : sequence of str, or Tensor of shape (N, 3, H, W)
        Image files, folders, globs, ``sample:NAME``; or an already preprocessed batch.
    out : path-like
        The store to write. Nothing appears there unless the whole capture succeeds.
    layers : sequence of str
        Dotted module names, glob patterns, or ``conv`` for every convolution.
    batch_size : int
        Images per forward; memory is bounded by about two batches, whatever N is.
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch.

    Returns
    -------
    Path
        ``out``.
    """
    loaded = as_loaded(model)
    if batch_size < 1:
        msg = f"--batch-size {batch_size} must be at least 1"
        raise InputError(msg)
    names = resolve_layers(loaded.module, layers)
    items, batches = _batches(inputs, loaded.preprocess, batch_size)
    check_target(Path(out), force=force)
    modules = dict(loaded.module.named_modules())
    attrs = provenance(loaded, names, batch_size=batch_size, dtype=dtype, command=command)
    with (
        StoreWriter(
            out,
            force=force,
            dtype=dtype,
            compress=compress,
            attrs=attrs,
            background=True,
            class_names=loaded.class_names,
        ) as writer,
        eval_mode(loaded.module),
        capture_outputs(loaded.module, names) as outputs,
        torch.no_grad(),
    ):
        done = 0
        for records, x in batches:
            logits = loaded.module(x.to(loaded.device))
            arrays = {k: v.cpu().numpy() for k, v in outputs.items()}
            layer_attrs = {k: _layer_attrs(modules, k) for k in arrays}
            logits_np = logits.cpu().numpy() if isinstance(logits, torch.Tensor) else None
            writer.append(records, arrays, logits_np, layer_attrs)
            done += len(records)
            if progress:
                progress(done, len(items))
    return Path(out)


def _layer_attrs(modules: dict[str, nn.Module], key: str) -> dict[str, Any]:
    name, _, call = key.partition("@")
    return {**layer_attributes(modules[name]), "module": name, "call": int(call or 0)}


Batch = tuple[list[dict[str, str]], torch.Tensor]


def _batches(
    inputs: Sequence[str] | torch.Tensor, preprocess: Preprocess, batch_size: int
) -> tuple[list[Any], Iterator[Batch]]:
    if isinstance(inputs, torch.Tensor):
        if inputs.ndim != 4:
            msg = f"inputs tensor has shape {tuple(inputs.shape)}, expected (N, C, H, W)"
            raise InputError(msg)
        starts = list(range(0, len(inputs), batch_size))
        return list(range(len(inputs))), _prefetch(
            starts, lambda s: _tensor_batch(inputs, s, batch_size)
        )
    items = resolve_inputs(list(inputs))
    transform = preprocess.transform()

    def prepare(start: int) -> Batch:
        batch = items[start : start + batch_size]
        records = [
            {"source": i.source, "name": i.name, "label": i.label, "sha256": i.sha256()}
            for i in batch
        ]
        return records, torch.stack([transform(i.load()) for i in batch])

    return items, _prefetch(list(range(0, len(items), batch_size)), prepare)


def _tensor_batch(x: torch.Tensor, start: int, batch_size: int) -> Batch:
    chunk = x[start : start + batch_size].float()
    records = [
        {
            "source": "tensor",
            "name": f"tensor[{start + i}]",
            "label": "",
            "sha256": hashlib.sha256(t.cpu().numpy().tobytes()).hexdigest(),
        }
        for i, t in enumerate(chunk)
    ]
    return records, chunk


def _prefetch(starts: list[int], prepare: Callable[[int], Batch]) -> Iterator[Batch]:
    """Yield ``prepare(s)`` for each start, preparing the next batch on a thread meanwhile.

    Decoding, resizing and hashing release the GIL, so they overlap the model's forward.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(prepare, starts[0]) if starts else None
        for k in range(len(starts)):
            assert pending is not None
            ready = pending.result()
            pending = pool.submit(prepare, starts[k + 1]) if k + 1 < len(starts) else None
            yield ready


def provenance(loaded: LoadedModel, layers: Sequence[str], **extra: Any) -> dict[str, Any]:
    """Root attributes recording how a store was made."""
    import h5py
    import torchvision

    import volviz

    return {
        "model": loaded.name,
        "weights": loaded.weights,
        "weights_sha256": loaded.weights_sha256 or "",
        "seed": -1 if loaded.seed is None else loaded.seed,
        "preprocess": loaded.preprocess.as_dict(),
        "captured_layers": list(layers),
        "device": str(loaded.device),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "volviz_version": volviz.__version__,
        "versions": {
            "volviz": volviz.__version__,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "h5py": h5py.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        **extra,
    }
