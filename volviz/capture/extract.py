"""Capture activations of chosen layers for many images, streamed batch by batch into a store."""

from __future__ import annotations

import os
import platform
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from volviz.capture.hooks import eval_mode
from volviz.capture.layers import layer_attributes, resolve_layers
from volviz.capture.models import IMAGENET, LoadedModel, Preprocess
from volviz.capture.stages import PostInfo, parse_stages, split_key, staged_outputs
from volviz.capture.stream import (
    Batch,
    dataset_batches,
    loader_batches,
    pending,
    source_dataset,
)
from volviz.errors import InputError
from volviz.store.partial import ResumableWriter
from volviz.store.writer import check_target

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
    inputs: Sequence[str] | torch.Tensor | Dataset | DataLoader,
    out: str | os.PathLike[str],
    *,
    layers: Sequence[str] = ("conv",),
    batch_size: int = 16,
    dtype: str = "float32",
    compress: bool | str = False,
    force: bool = False,
    progress: Progress | None = None,
    command: str = "",
    resume: bool = False,
    num_workers: int = 0,
    pin_memory: bool | None = None,
    stage: str | Mapping[str, str] = "pre",
) -> Path:
    """Run ``inputs`` through ``model`` and store the outputs of ``layers`` in ``out``.

    Parameters
    ----------
    model : LoadedModel or nn.Module
        From ``load_model``, or any module (its preprocessing is then ImageNet's).
    inputs : sequence of str, Tensor of shape (N, 3, H, W), Dataset or DataLoader
        Image files, folders, globs, ``sample:NAME``; an already preprocessed batch; a torch
        Dataset whose items are ``x`` or ``(x, label)``; or a DataLoader of such batches
        (its own batch size is used).
    out : path-like
        The store to write. Nothing appears there unless the whole capture succeeds; an
        interrupted capture is kept beside it (``.NAME.partial``) for ``resume``.
    layers : sequence of str
        Dotted module names, glob patterns, or ``conv`` for every convolution.
    batch_size : int
        Images per forward; memory is bounded by a few batches, whatever N is.
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch (``total`` is None for a
        DataLoader without a length).
    resume : bool
        Continue an unfinished capture of ``out``: inputs already stored (by content hash)
        are skipped; the result has the same content as an uninterrupted run.
    num_workers : int
        DataLoader worker processes decoding images (0: one background thread).
    pin_memory : bool, optional
        Page-locked batches for a faster copy to a GPU (default: when the model is on CUDA).
    stage : str or mapping
        What to store per layer: ``pre`` (the module's own output, key ``NAME``), ``post``
        (what the next layer receives, after the normalisation / nonlinearity / residual add
        that follow it in the traced graph, key ``NAME+post``) or ``both``. A comma list
        (``post,_conv_stem=both``) or a ``{name: stage}`` mapping sets it per layer.

    Returns
    -------
    Path
        ``out``.
    """
    loaded = as_loaded(model)
    if batch_size < 1:
        raise InputError("must be at least 1", param="batch_size", value=batch_size)
    names = resolve_layers(loaded.module, layers)
    stages = parse_stages(stage, names)
    source = inputs if isinstance(inputs, DataLoader) else source_dataset(inputs, loaded.preprocess)
    check_target(Path(out), force=force)
    modules = dict(loaded.module.named_modules())
    if isinstance(source, DataLoader):
        batch_size = source.batch_size or 1
    attrs = provenance(
        loaded, names, batch_size=batch_size, dtype=dtype, command=command, stages=stages
    )
    settings = {k: attrs[k] for k in RESUME_SETTINGS} | {"compress": compress}
    pin = loaded.device.type == "cuda" if pin_memory is None else pin_memory
    store_dtype = torch.float16 if dtype == "float16" else torch.float32

    def write(key: str, tensor: torch.Tensor) -> None:  # in the forward, as each layer runs
        writer.add_layer(key, tensor.numpy(), _layer_attrs(modules, key, post))

    with (
        ResumableWriter(
            out,
            settings=settings,
            resume=resume,
            force=force,
            dtype=dtype,
            compress=compress,
            attrs=attrs,
            background=True,
            class_names=loaded.class_names,
        ) as writer,
        eval_mode(loaded.module),
        # copies made in the stored dtype on the CPU by the hooks (float16: one pass)
        staged_outputs(loaded.module, stages, dtype=store_dtype, device="cpu", on_output=write) as (
            run,
            _,
            post,
        ),
        torch.no_grad(),
    ):
        total, batches = _stream(source, writer.stored, batch_size, num_workers, pin)
        done = writer.n_images
        for records, x in batches:
            logits = run(x.to(loaded.device, non_blocking=pin))
            logits_np = logits.cpu().numpy() if isinstance(logits, torch.Tensor) else None
            writer.append(records, None, logits_np)
            done += len(records)
            if progress:
                progress(done, total if total is not None else done)
    return Path(out)


# Provenance that must not change between an interrupted run and its resume.
RESUME_SETTINGS = (
    "model",
    "weights",
    "weights_sha256",
    "seed",
    "preprocess",
    "captured_layers",
    "batch_size",
    "dtype",
    "stages",
)


def _stream(
    source: Dataset | DataLoader,
    stored: Counter[str],
    batch_size: int,
    num_workers: int,
    pin: bool,
) -> tuple[int | None, Iterator[Batch]]:
    """Total number of images and the batches still to capture."""
    if isinstance(source, DataLoader):
        try:
            total: int | None = len(source.dataset)  # type: ignore[arg-type]
        except TypeError:
            total = None
        return total, loader_batches(source, stored)
    todo = pending(source, stored)
    done = sum(stored.values())
    batches = dataset_batches(source, todo, batch_size, num_workers=num_workers, pin_memory=pin)
    return done + len(todo), batches


def _layer_attrs(
    modules: dict[str, nn.Module], key: str, post: dict[str, PostInfo]
) -> dict[str, Any]:
    name, call, stage = split_key(key)
    extra = post[key].attrs() if key in post else {"stage": stage}
    return {**layer_attributes(modules[name]), "module": name, "call": call, **extra}


def provenance(loaded: LoadedModel, layers: Sequence[str], **extra: Any) -> dict[str, Any]:
    """Root attributes recording how a store was made."""
    from importlib.metadata import version

    import h5py

    import volviz

    return {
        "model": loaded.name,
        "weights": loaded.weights,
        "weights_sha256": loaded.weights_sha256 or "",
        "weights_option": loaded.weights_option,
        "seed": -1 if loaded.seed is None else loaded.seed,
        "preprocess": loaded.preprocess.as_dict(),
        "captured_layers": list(layers),
        "device": str(loaded.device),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "volviz_version": volviz.__version__,
        "versions": {
            "volviz": volviz.__version__,
            "torch": torch.__version__,
            # Read from metadata: importing torchvision costs ~1 s (torch._dynamo) here.
            "torchvision": version("torchvision"),
            "h5py": h5py.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        **extra,
    }
