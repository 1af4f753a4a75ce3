"""Merge shard stores into one store whose datasets are HDF5 virtual datasets (VDS).

Each shard is a complete store of a contiguous block of the inputs (as written by one Dask
worker). The merged file holds the concatenated ``/inputs`` table (copied: it is small),
``/layers/<key>/activations`` and ``/predictions`` as virtual datasets mapping row ranges to
the shards (no activation is copied), and the shards' aggregates merged exactly. HDF5 reads
a virtual dataset like any other, so every reader, exporter and renderer takes the merged
file as one store, as long as the shard files stay where the root attribute ``shards``
says (paths relative to the merged file's folder).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from exporters._atomic import atomic_file, remove_stale_temporaries
from volviz.errors import StoreError
from volviz.store.reader import Store
from volviz.store.schema import ACTIVATION_AXES, stamp
from volviz.store.writer import check_target

# Root attributes that must agree between shards for their rows to form one store.
SAME = ("model", "weights", "weights_sha256", "seed", "preprocess", "captured_layers", "dtype")
_STR = h5py.string_dtype()


def merge_shards(
    shards: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    force: bool = False,
) -> Path:
    """Write ``out``: one store over ``shards`` (in this order) through virtual datasets.

    Parameters
    ----------
    shards : sequence of path-like
        Complete stores with the same model, layers and dtype; their rows are concatenated.
    out : path-like
        The merged store; written under a temporary name and renamed when complete.
    force : bool
        Replace an existing ``out``.

    Returns
    -------
    Path
        ``out``.
    """
    out = Path(out)
    if not shards:
        msg = "SHARDS is empty: give the shard stores to merge"
        raise StoreError(msg)
    check_target(out, force=force)
    layout = _survey([Path(s) for s in shards])
    remove_stale_temporaries(out)
    with atomic_file(out) as tmp:
        with h5py.File(tmp, "w-") as f:
            _write_root(f, layout, out)
            _write_inputs(f, layout)
            _write_layers(f, layout, out)
            _write_predictions(f, layout, out)
        if all(layout["aggregates"]):
            from volviz.store.aggregates import merge_shard_stats

            merge_shard_stats(tmp, layout["paths"], layout["offsets"])
    return out


def _survey(paths: list[Path]) -> dict[str, Any]:
    """Read each shard's layout; refuse shards that do not belong together."""
    info: dict[str, Any] = {"paths": paths, "counts": [], "aggregates": []}
    for path in paths:
        with Store(path) as store:
            layers = {
                k: (tuple(store.activations(k).shape[1:]), store.activations(k).dtype)
                for k in store.layers
            }
            prov = store.provenance
            if not info["counts"]:
                info.update(layers=layers, provenance=prov, first=path)
                info["predictions"] = _prediction_shapes(store)
            _check_same(info, path, layers, prov, _prediction_shapes(store))
            info["counts"].append(store.n_images)
            info["aggregates"].append("aggregates" in store.file)
    info["offsets"] = np.concatenate([[0], np.cumsum(info["counts"])]).astype(int).tolist()
    return info


def _prediction_shapes(store: Store) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    if "predictions" not in store.file:
        return {}
    group = store.file["predictions"]
    return {k: (group[k].shape[1:], group[k].dtype) for k in ("logits", "top_index", "top_prob")}


def _check_same(
    info: dict[str, Any], path: Path, layers: dict[str, Any], prov: dict[str, Any], pred: Any
) -> None:
    first = info["first"].name
    if layers != info["layers"]:
        msg = f"shard {str(path)!r} has other layers or shapes than {first!r}"
        raise StoreError(msg)
    for key in SAME:
        if prov.get(key) != info["provenance"].get(key):
            msg = f"shard {str(path)!r} has {key}={prov.get(key)!r}, {first!r} has " + repr(
                info["provenance"].get(key)
            )
            raise StoreError(msg)
    if pred != info["predictions"]:
        msg = f"shard {str(path)!r} has other prediction tables than {first!r}"
        raise StoreError(msg)


def _spans(layout: dict[str, Any]) -> list[tuple[Path, int, int]]:
    """(shard, first row, end row) of every shard in the merged store."""
    offsets = layout["offsets"]
    return [(p, offsets[i], offsets[i + 1]) for i, p in enumerate(layout["paths"])]


def _relative(shard: Path, out: Path) -> str:
    return os.path.relpath(shard.resolve(), out.resolve().parent)


def _write_root(f: h5py.File, layout: dict[str, Any], out: Path) -> None:
    stamp(f, "volviz-store")
    for key, value in layout["provenance"].items():
        f.attrs[key] = value if isinstance(value, str | int | float) else json.dumps(value)
    f.attrs["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    f.attrs["shards"] = json.dumps([_relative(p, out) for p in layout["paths"]])


def _write_inputs(f: h5py.File, layout: dict[str, Any]) -> None:
    group = f.create_group("inputs")
    stamp(group, "inputs")
    n = layout["offsets"][-1]
    columns = ("source", "name", "label", "sha256")
    for key in columns:
        group.create_dataset(key, shape=(n,), maxshape=(None,), dtype=_STR, chunks=(256,))
    for path, n0, n1 in _spans(layout):
        with h5py.File(path, "r") as shard:
            for key in columns:
                group[key][n0:n1] = shard["inputs"][key].asstr()[()]


def _virtual(
    f: h5py.Group, name: str, key: str, layout: dict[str, Any], out: Path, row: tuple, dtype: Any
) -> h5py.Dataset:
    """A virtual dataset ``name`` concatenating ``key`` of every shard along axis 0."""
    n = layout["offsets"][-1]
    vlayout = h5py.VirtualLayout(shape=(n, *row), dtype=dtype)
    for path, n0, n1 in _spans(layout):
        if n1 > n0:
            source = h5py.VirtualSource(_relative(path, out), key, shape=(n1 - n0, *row))
            vlayout[n0:n1] = source
    fill = np.nan if np.dtype(dtype).kind == "f" else 0
    return f.create_virtual_dataset(name, vlayout, fillvalue=fill)


def _write_layers(f: h5py.File, layout: dict[str, Any], out: Path) -> None:
    layers = f.create_group("layers")
    stamp(layers, "layers")
    with h5py.File(layout["first"], "r") as first:
        for key, (row, dtype) in layout["layers"].items():
            group = layers.create_group(key)
            for name, value in first["layers"][key].attrs.items():
                group.attrs[name] = value
            ds = _virtual(
                group, "activations", f"layers/{key}/activations", layout, out, row, dtype
            )
            stamp(ds, "activations")
            ds.attrs["axes"] = ACTIVATION_AXES
            source = first[f"layers/{key}/activations"].attrs
            if "compression" in source:  # readers need the shards' codec (a plugin?) too
                ds.attrs["compression"] = source["compression"]


def _write_predictions(f: h5py.File, layout: dict[str, Any], out: Path) -> None:
    if not layout["predictions"]:
        return
    group = f.create_group("predictions")
    stamp(group, "predictions")
    for key, (row, dtype) in layout["predictions"].items():
        _virtual(group, key, f"predictions/{key}", layout, out, row, dtype)
    with h5py.File(layout["first"], "r") as first:
        if "class_names" in first["predictions"]:
            names = first["predictions/class_names"].asstr()[()]
            group.create_dataset("class_names", data=names, dtype=_STR)


def shard_problems(file: h5py.File) -> list[str]:
    """Shards listed in a merged store's ``shards`` attribute that are missing or unreadable.

    Each shard is opened: HDF5 refuses a truncated file there, whereas through the virtual
    datasets it would fail at the first read (or read as fill values).
    """
    listed = file.attrs.get("shards")
    if listed is None:
        return []
    folder = Path(file.filename).parent
    names = json.loads(listed if isinstance(listed, str) else listed.decode())
    problems = []
    for name in names:
        path = folder / name
        if not path.is_file():
            problems.append(f"shard {name!r} of {Path(file.filename).name} is missing")
            continue
        try:
            h5py.File(path, "r").close()
        except OSError as exc:
            problems.append(
                f"shard {name!r} of {Path(file.filename).name} is truncated or damaged ({exc})"
            )
    return problems
