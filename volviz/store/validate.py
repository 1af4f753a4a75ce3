"""Check a store file against docs/format.md; report every problem found."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial

import h5py

from volviz.errors import StoreError
from volviz.store.reader import Store
from volviz.store.schema import ACTIVATION_AXES, check

REQUIRED_ROOT_ATTRS = ("model", "created", "volviz_version")
INPUT_COLUMNS = ("source", "name", "label", "sha256")
TIME_SERIES = ("timeline_activations", "weight", "weight_grad")


def validate(path: str | os.PathLike[str]) -> list[str]:
    """Return the ways ``path`` does not conform (an empty list means it conforms).

    Every dataset is read through once, so a truncated file is caught.
    """
    try:
        store = Store(path)
    except (StoreError, KeyError) as exc:
        return [str(exc).strip("'\"")]
    problems: list[str] = []
    with store:
        n = store.n_images
        problems += [
            f"root attribute {a!r} is missing"
            for a in REQUIRED_ROOT_ATTRS
            if a not in store.file.attrs
        ]
        for column in INPUT_COLUMNS:
            ds = store.file["inputs"].get(column)
            if not isinstance(ds, h5py.Dataset) or ds.shape != (n,):
                problems.append(f"/inputs/{column} is missing or not of shape ({n},)")
        for layer in store.layers:
            problems += _guard(partial(_check_layer, store, layer, n))
        if "predictions" in store.file:
            problems += _guard(partial(_check_predictions, store.file["predictions"], n))
        if "timeline" in store.file:
            problems += _guard(partial(_check_timeline, store))
    return problems


def run_summary(store: Store) -> str | None:
    """How many complete records a tracked run (``volviz.track``) holds; ``None`` if none.

    A record is complete when its ``/timeline/step`` entry exists (written last); a writer
    that died mid-record leaves longer series behind, which readers ignore.
    """
    if "timeline" not in store.file:
        return None
    steps = store.dataset("/timeline/step")
    n = steps.shape[0]
    line = f"training run with {n} complete record{'s' * (n != 1)}"
    if n:
        line += f" (steps {int(steps[0])}..{int(steps[n - 1])})"
    if _series_lengths(store).get(n + 1):
        line += ", and 1 incomplete record after them (ignored)"
    if store.writing:
        line += (
            "; the file is still marked open for writing (its writer is live or died): "
            "read in SWMR mode"
        )
    return line


def _series_lengths(store: Store) -> dict[int, list[str]]:
    """Datasets of the timeline and the layers' series, by their length in records."""
    names = [f"/timeline/{k}" for k in store.file["timeline"]]
    for layer in store.layers:
        group = store.file["layers"][layer]
        names += [group[k].name for k in TIME_SERIES if k in group]
    lengths: dict[int, list[str]] = {}
    for name in names:
        lengths.setdefault(store.file[name].shape[0], []).append(name)
    return lengths


def _check_timeline(store: Store) -> list[str]:
    """Every series holds each complete record (or one more, being written); read them all."""
    line = store.file["timeline"]
    check(line, "timeline")
    n = line["step"].shape[0]
    problems = [
        f"{name} holds {length} records, but /timeline/step counts {n} complete ones"
        for length, names in _series_lengths(store).items()
        if length not in (n, n + 1)
        for name in names
    ]
    for layer in store.layers:
        group = store.file["layers"][layer]
        for ds in (group[k] for k in TIME_SERIES if k in group):
            try:
                for t in range(min(n, ds.shape[0])):
                    ds[t]
            except OSError as exc:
                problems.append(f"{ds.name} record {t} cannot be read ({exc})")
    return problems


def _guard(fn: Callable[[], list[str]]) -> list[str]:
    try:
        return fn()
    except (StoreError, KeyError, OSError) as exc:
        return [str(exc).strip("'\"")]


def _check_layer(store: Store, layer: str, n: int) -> list[str]:
    group = store.file["layers"][layer]
    check(group, "layer")
    if "activations" not in group:
        return [f"/layers/{layer} has no activations dataset"]
    ds = group["activations"]
    check(ds, "activations")
    problems = []
    if ds.ndim != 4 or ds.shape[0] != n:
        problems.append(
            f"/layers/{layer}/activations has shape {ds.shape}, expected ({n}, C, H, W)"
        )
    if ds.dtype.str[1:] not in ("f4", "f2"):
        problems.append(f"/layers/{layer}/activations has dtype {ds.dtype}, expected float32/16")
    if [str(a) for a in ds.attrs.get("axes", [])] != ACTIVATION_AXES:
        problems.append(f"/layers/{layer}/activations axes attribute is not {ACTIVATION_AXES}")
    # A virtual dataset (a merged store) has no chunks of its own: read it image by image.
    rows = [(slice(i, i + 1),) for i in range(len(ds))] if ds.is_virtual else [(slice(None),)]
    for block in ds.iter_chunks() if ds.chunks else rows:
        try:
            ds[block]
        except OSError as exc:
            where = f"images {block[0].start}:{block[0].stop}" if block[0].stop else "data"
            problems.append(
                f"/layers/{layer}/activations cannot be read ({where}: damaged, its checksum "
                f"or decompression failed, or its file is missing or truncated: {exc})"
            )
            break
    return problems


def _check_predictions(group: h5py.Group, n: int) -> list[str]:
    check(group, "predictions")
    problems = []
    for key in ("logits", "top_index", "top_prob"):
        if key not in group or group[key].shape[0] != n:
            problems.append(f"/predictions/{key} is missing or has no row per image ({n})")
    return problems
