"""Glue between images, the model side and the store: load a batch, write results.

Results go into a new store (``-o FILE``: inputs, predictions, provenance and the result,
written under a temporary name and renamed when complete) or, with ``append``, into an
existing store that already holds the images (matched by SHA-256) as one more group,
renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from volviz.capture.extract import provenance
from volviz.capture.inputs import resolve_inputs
from volviz.capture.models import LoadedModel, Preprocess
from volviz.errors import StoreError


@dataclass
class Batch:
    """Images ready for the model.

    Attributes
    ----------
    x : Tensor of shape (N, 3, H, W)
        Preprocessed.
    records : list of dict
        ``source``, ``name``, ``label``, ``sha256`` per image (the store's ``/inputs`` row).
    rgb : list of ndarray of shape (H, W, 3), uint8
        The resized, cropped pixels the model saw (for overlays).
    """

    x: torch.Tensor
    records: list[dict[str, str]]
    rgb: list[np.ndarray]

    @property
    def names(self) -> list[str]:
        return [r["name"] for r in self.records]


def load_batch(specs: Sequence[str], preprocess: Preprocess) -> Batch:
    """Resolve image specs (files, folders, globs, ``sample:NAME``) and preprocess them."""
    from torchvision.transforms import v2

    items = resolve_inputs(list(specs))
    transform = preprocess.transform()
    crop = v2.Compose(
        [v2.Resize(preprocess.resize, antialias=True), v2.CenterCrop(preprocess.crop)]
    )
    tensors, records, rgb = [], [], []
    for item in items:
        img = item.load()
        tensors.append(transform(img))
        rgb.append(np.asarray(crop(img), dtype=np.uint8))
        records.append(
            {"source": item.source, "name": item.name, "label": item.label, "sha256": item.sha256()}
        )
    return Batch(torch.stack(tensors), records, rgb)


def deprocess(x: torch.Tensor | np.ndarray, preprocess: Preprocess) -> np.ndarray:
    """Map a preprocessed (3, H, W) image back to (H, W, 3) uint8 pixels (clipped)."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    mean = np.asarray(preprocess.mean)[:, None, None]
    std = np.asarray(preprocess.std)[:, None, None]
    pixels = (arr * std + mean) * 255.0
    return np.ascontiguousarray(
        np.clip(np.rint(pixels), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    )


@contextlib.contextmanager
def result_store(
    out: str | os.PathLike[str],
    loaded: LoadedModel,
    batch: Batch,
    logits: np.ndarray | None,
    *,
    append: bool,
    force: bool,
    command: str = "",
) -> Iterator[tuple[h5py.File, list[int]]]:
    """Yield an open store file to add a result to, and the ``/inputs`` row of each image.

    A new store (``append=False``) is written under a temporary name and appears at ``out``
    only if the block succeeds. With ``append`` the store must exist, come from the same
    model, and hold every image already.
    """
    from volviz.store.edit import open_for_update
    from volviz.store.writer import StoreWriter

    if append:
        rows = _match_rows(Path(out), loaded, batch)
        with open_for_update(out) as handle:
            yield handle, rows
        return
    attrs = provenance(loaded, [], command=command)
    with StoreWriter(out, force=force, attrs=attrs, class_names=loaded.class_names) as writer:
        writer.append(batch.records, {}, logits)
        assert writer.file is not None
        yield writer.file, list(range(len(batch.records)))


def _match_rows(path: Path, loaded: LoadedModel, batch: Batch) -> list[int]:
    from volviz.store import Store

    if not path.is_file():
        msg = f": {str(path)!r} does not exist; leave out {{append}} to create it"
        raise StoreError(msg, param="append", refs={"append": True})
    with Store(path) as store:
        model = str(store.provenance.get("model", ""))
        if model != loaded.name:
            msg = f": {path.name} was made with model {model!r}, not {loaded.name!r}"
            raise StoreError(msg, param="append")
        shas = [r["sha256"] for r in store.inputs]
    rows = []
    for record in batch.records:
        if record["sha256"] not in shas:
            msg = (
                f": image {record['source']!r} is not in {path.name}; "
                "add results for the store's own images or write a new store"
            )
            raise StoreError(msg, param="append")
        rows.append(shas.index(record["sha256"]))
    return rows


def add_group(
    handle: h5py.File,
    parent: str,
    name: str,
    encoding: str,
    fill: Callable[[h5py.Group], None],
    *,
    force: bool,
) -> str:
    """Create ``/parent/name`` all-or-nothing (``--force`` replaces it); return its path."""
    from volviz.store.edit import replace_group
    from volviz.store.results import parent_group

    if not name or "/" in name or name.startswith("."):
        msg = "must be a non-empty name without '/' that does not start with '.'"
        raise StoreError(msg, param="name", value=name)
    group = parent_group(handle, parent)
    replace_group(group, name, encoding, fill, force=force)
    return f"/{parent}/{name}"


def run_attrs(loaded: LoadedModel, rows: Sequence[int], **extra: Any) -> dict[str, Any]:
    """Attributes every result group carries: model, input rows, creation time."""
    from datetime import datetime, timezone

    return {
        "model": loaded.name,
        "images": [int(r) for r in rows],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def layer_attrs(loaded: LoadedModel, layers: Sequence[str]) -> Mapping[str, dict[str, Any]]:
    """The module attributes (type, kernel, stride...) of each layer, by name."""
    from volviz.capture.layers import layer_attributes

    modules = dict(loaded.module.named_modules())
    return {name: {**layer_attributes(modules[name]), "module": name} for name in layers}


def gradient_filler(
    loaded: LoadedModel, result: Any, rows: Sequence[int], attrs: dict[str, Any]
) -> Callable[[h5py.Group], None]:
    """A function filling a ``gradient-run`` group with ``result`` (a ``GradientResult``)."""
    from volviz.store.results import fill_gradient_run

    def fill(group: h5py.Group) -> None:
        fill_gradient_run(
            group,
            per_image=result.per_image,
            sums=result.sum,
            n_images=len(rows),
            class_index=result.class_index,
            layer_attrs=layer_attrs(loaded, result.layers),
            attrs=attrs,
        )

    return fill
