"""Weight gradients, class comparisons and 2-D attributions inside a store (docs/format.md).

Writers fill a group given to them (a new store's temporary file, or a group that
``edit.replace_group`` renames into place), so a failed write leaves nothing behind.
Readers check every encoding and return plain arrays and dicts.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from volviz.errors import StoreError
from volviz.store.schema import check, members, read_attrs, stamp

GRADIENT_AXES = ["filter", "input", "y", "x"]
PER_IMAGE_AXES = ["sample", "filter", "input", "y", "x"]
MAP_AXES = ["sample", "y", "x"]
IMAGE_AXES = ["sample", "channel", "y", "x"]
REDUCTIONS = ("sum", "abs_sum", "l2", "keep")
PARENTS = {
    "gradients": "gradients",
    "attributions": "attributions",
    "comparisons": "comparisons",
    "importance": "importance-runs",
}


def parent_group(file: h5py.File, name: str) -> h5py.Group:
    """``/gradients``, ``/attributions`` or ``/comparisons``, created and stamped if absent."""
    if name not in file:
        stamp(file.create_group(name), PARENTS[name])
    group = file[name]
    check(group, PARENTS[name])
    return group


def set_attrs(obj: h5py.Group | h5py.Dataset, attrs: Mapping[str, Any]) -> None:
    """Write attributes; lists and mappings become JSON text."""
    for key, value in attrs.items():
        obj.attrs[key] = value if isinstance(value, str | int | float) else json.dumps(value)


def _dataset(
    group: h5py.Group, name: str, data: np.ndarray, encoding: str, axes: Sequence[str], **attrs: Any
) -> h5py.Dataset:
    array = np.ascontiguousarray(data)
    ds = group.create_dataset(name, data=array, chunks=True if array.size > 4096 else None)
    stamp(ds, encoding)
    ds.attrs["axes"] = list(axes)
    set_attrs(ds, attrs)
    return ds


def fill_gradient_run(
    group: h5py.Group,
    *,
    per_image: Mapping[str, np.ndarray] | None,
    sums: Mapping[str, np.ndarray],
    n_images: int,
    class_index: np.ndarray,
    layer_attrs: Mapping[str, Mapping[str, Any]],
    attrs: Mapping[str, Any],
) -> None:
    """Fill ``/gradients/<run>`` (already stamped ``gradient-run``).

    Parameters
    ----------
    per_image : dict of str to ndarray of shape (N, O, I, kh, kw), or None
    sums : dict of str to ndarray of shape (O, I, kh, kw)
        Gradient of the score summed over the N images; ``mean`` is written as sum / N.
    class_index : ndarray of shape (N,)
        Class explained per image (-1 for a class set).
    attrs : mapping
        Run attributes: target (JSON), target_label, score, strategy, images (input rows).
    """
    set_attrs(group, {**attrs, "n_images": int(n_images), "layers": list(sums)})
    _dataset(
        group, "class_index", np.asarray(class_index, dtype=np.int64), "class-index", ["sample"]
    )
    for layer, total in sums.items():
        sub = group.create_group(layer)
        stamp(sub, "weight-gradient")
        set_attrs(sub, {**layer_attrs.get(layer, {}), "weight_shape": list(total.shape)})
        total32 = np.asarray(total, dtype=np.float32)
        _dataset(sub, "sum", total32, "gradient-aggregate", GRADIENT_AXES, over="sum")
        mean = (np.asarray(total, dtype=np.float64) / max(1, n_images)).astype(np.float32)
        _dataset(sub, "mean", mean, "gradient-aggregate", GRADIENT_AXES, over="mean")
        if per_image is not None:
            arr = np.asarray(per_image[layer], dtype=np.float32)
            _dataset(sub, "per_image", arr, "gradient-per-image", PER_IMAGE_AXES)


def gradient_runs(file: h5py.File) -> list[str]:
    """Names of the gradient runs in an open store (empty if none)."""
    return members(file.get("gradients"))


def read_gradient_run(file: h5py.File, run: str) -> dict[str, Any]:
    """One gradient run: attributes, classes, and per layer sum, mean and per-image arrays.

    Returns
    -------
    dict
        ``{"attrs": {...}, "class_index": (N,), "layers": {layer: {"sum": (O, I, kh, kw),
        "mean": ..., "per_image": (N, O, I, kh, kw) or absent, "attrs": {...}}}}``
    """
    runs = gradient_runs(file)
    if run not in runs:
        msg = f"is not in {file.filename}; runs: {', '.join(runs) or 'none'}"
        raise StoreError(msg, param="run", value=run)
    group = file["gradients"][run]
    check(group, "gradient-run")
    out: dict[str, Any] = {"attrs": read_attrs(group), "layers": {}}
    out["class_index"] = group["class_index"][()]
    for layer in out["attrs"].get("layers", []):
        sub = group[layer]
        check(sub, "weight-gradient")
        entry: dict[str, Any] = {"attrs": read_attrs(sub)}
        for key in ("sum", "mean", "per_image"):
            if key in sub:
                encoding = "gradient-per-image" if key == "per_image" else "gradient-aggregate"
                check(sub[key], encoding)
                entry[key] = sub[key][()]
        out["layers"][layer] = entry
    return out


def gradient_volume(gradient: np.ndarray, reduction: str = "sum") -> np.ndarray:
    """Make a (C, H, W) volume from a weight gradient (O, I, kh, kw).

    Parameters
    ----------
    gradient : ndarray of shape (O, I, kh, kw)
    reduction : {"sum", "abs_sum", "l2", "keep"}
        Over the input-channel axis: ``sum`` (as CNN-VIS did), ``abs_sum``, ``l2``; ``keep``
        stacks every (filter, input) kernel on depth: filter o, input i at ``o * I + i``.

    Returns
    -------
    ndarray of shape (O, kh, kw), or (O * I, kh, kw) for ``keep``; float32, C-contiguous.
    """
    g = np.asarray(gradient)
    if g.ndim != 4:
        msg = f"gradient has shape {g.shape}, expected (O, I, kh, kw)"
        raise StoreError(msg)
    if reduction == "sum":
        vol = g.sum(axis=1, dtype=np.float64)
    elif reduction == "abs_sum":
        vol = np.abs(g).sum(axis=1, dtype=np.float64)
    elif reduction == "l2":
        vol = np.sqrt(np.square(g, dtype=np.float64).sum(axis=1))
    elif reduction == "keep":
        vol = g.reshape(-1, *g.shape[2:])
    else:
        msg = f"is not one of {', '.join(REDUCTIONS)}"
        raise StoreError(msg, param="reduction", value=reduction)
    return np.ascontiguousarray(vol, dtype=np.float32)


def fill_comparison(
    group: h5py.Group,
    differences: Mapping[str, Mapping[str, np.ndarray]],
    attrs: Mapping[str, Any],
) -> None:
    """Fill ``/comparisons/<name>``: per layer, the difference of mean gradients per pair.

    ``differences`` maps layer -> ``{"reference-minus-similar": (O, I, kh, kw), ...}``.
    """
    set_attrs(group, {**attrs, "layers": list(differences)})
    for layer, pairs in differences.items():
        sub = group.create_group(layer)
        stamp(sub, "comparison-layer")
        for name, diff in pairs.items():
            arr = np.asarray(diff, dtype=np.float32)
            _dataset(
                sub, name, arr, "gradient-aggregate", GRADIENT_AXES, over="difference of means"
            )


def fill_attribution(
    group: h5py.Group,
    arrays: Mapping[str, tuple[np.ndarray, Sequence[str]]],
    class_index: np.ndarray,
    attrs: Mapping[str, Any],
) -> None:
    """Fill ``/attributions/<run>``: named arrays with their axes, the classes, attributes."""
    set_attrs(group, attrs)
    _dataset(
        group, "class_index", np.asarray(class_index, dtype=np.int64), "class-index", ["sample"]
    )
    for name, (array, axes) in arrays.items():
        _dataset(group, name, np.asarray(array, dtype=np.float32), "attribution-array", axes)


def attribution_runs(file: h5py.File) -> list[str]:
    """Names of the attribution runs in an open store (empty if none)."""
    return members(file.get("attributions"))


def read_attribution(file: h5py.File, run: str) -> dict[str, Any]:
    """One attribution run: ``attrs`` and every array by name (``maps`` (N, H, W), ...)."""
    runs = attribution_runs(file)
    if run not in runs:
        msg = f"is not in {file.filename}; attributions: {', '.join(runs) or 'none'}"
        raise StoreError(msg, param="run", value=run)
    group = file["attributions"][run]
    check(group, "attribution")
    out: dict[str, Any] = {"attrs": read_attrs(group)}
    for key, ds in group.items():
        check(ds, "class-index" if key == "class_index" else "attribution-array")
        out[key] = ds[()]
    return out


def import_npy(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    kind: str = "auto",
    layer: str | None = None,
    name: str = "imported",
    target: str = "",
    force: bool = False,
    attrs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Put external .npy arrays into a new store so viewers and exporters work on them.

    Parameters
    ----------
    paths : sequence of path-like
        .npy files (read with ``allow_pickle=False``), all of one shape.
    kind : {"auto", "activations", "gradients"}
        ``auto``: (C, H, W) arrays are activation volumes (one image each), (O, I, kh, kw)
        arrays are weight gradients (one image each). ``activations`` also takes one
        (N, C, H, W) array.
    layer : str, optional
        Layer key (default: the first file name's part before ``_``, e.g. ``conv1`` for
        ``conv1_pembroke.npy``; ``imported`` if it has none).
    name : str
        Gradient run name under ``/gradients``.
    target : str
        What the gradients are of, recorded as the run's target (free text).
    attrs : mapping, optional
        Extra root attributes (``command``).

    Returns
    -------
    dict
        ``kind``, ``layer``, ``shape`` (stacked), ``path`` of what was written.
    """
    from volviz.store.writer import StoreWriter

    arrays = [_load_npy(p) for p in paths]
    kind = _import_kind(arrays, kind)
    stack = np.ascontiguousarray(
        np.concatenate(arrays)
        if arrays[0].ndim == 4 and kind == "activations"
        else np.stack(arrays),
        dtype=np.float32,
    )
    stems = [Path(p).stem for p in paths]
    key = layer or (stems[0].split("_", 1)[0] if "_" in stems[0] else "imported")
    records = [_record(p, stem) for p, stem in zip(paths, stems, strict=True)]
    if len(records) != len(stack):
        records = [{**records[0], "name": f"{stems[0]}[{i}]"} for i in range(len(stack))]
    root = {**_import_attrs(paths), **(attrs or {})}
    with StoreWriter(out, force=force, attrs=root) as writer:
        if kind == "activations":
            writer.append(
                records, {key: stack}, None, {key: {"module": key, "module_type": "imported"}}
            )
            return {"kind": kind, "layer": key, "shape": stack.shape, "path": f"/layers/{key}"}
        writer.append(records, {}, None)
        assert writer.file is not None
        group = parent_group(writer.file, "gradients").create_group(name)
        stamp(group, "gradient-run")
        fill_gradient_run(
            group,
            per_image=None if len(stack) == 0 else {key: stack},
            sums={key: stack.sum(axis=0, dtype=np.float64).astype(np.float32)},
            n_images=len(stack),
            class_index=np.full(len(stack), -1),
            layer_attrs={key: {"module": key, "module_type": "imported"}},
            attrs={
                "model": "imported",
                "images": list(range(len(stack))),
                "target": json.dumps({"spec": target or "unknown", "classes": [], "score": ""}),
                "target_label": target or "unknown (imported)",
                "score": "unknown",
                "strategy": "imported",
            },
        )
    return {"kind": kind, "layer": key, "shape": stack.shape, "path": f"/gradients/{name}/{key}"}


def _load_npy(path: str | os.PathLike[str]) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        msg = f"FILE {str(path)!r} does not exist"
        raise StoreError(msg) from None
    except (ValueError, OSError) as exc:
        msg = f"FILE {str(path)!r} is not a .npy array without pickled objects ({exc})"
        raise StoreError(msg.splitlines()[0]) from exc
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiub":
        msg = f"FILE {str(path)!r} holds {getattr(array, 'dtype', type(array))}, not numbers"
        raise StoreError(msg)
    if not np.all(np.isfinite(array)):
        msg = f"FILE {str(path)!r} holds NaN or infinite values"
        raise StoreError(msg)
    return array


def _import_kind(arrays: list[np.ndarray], kind: str) -> str:
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        msg = f"FILES have different shapes {sorted(shapes)}; import arrays of one shape together"
        raise StoreError(msg)
    ndim = arrays[0].ndim
    if kind == "auto":
        kind = {3: "activations", 4: "gradients"}.get(ndim, "")
    allowed = {"activations": (3, 4), "gradients": (4,)}
    if kind not in allowed or ndim not in allowed[kind]:
        msg = (
            f"does not fit arrays of shape {arrays[0].shape}: "
            "activations are (C, H, W) (or one (N, C, H, W)), gradients (O, I, kh, kw)"
        )
        raise StoreError(msg, param="kind", value=kind or "auto")
    return kind


def _record(path: str | os.PathLike[str], stem: str) -> dict[str, str]:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"source": str(path), "name": stem, "label": "", "sha256": digest}


def _import_attrs(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    from datetime import datetime, timezone

    import volviz

    return {
        "model": "imported",
        "weights": "",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "volviz_version": volviz.__version__,
        "imported_from": [str(p) for p in paths],
    }


def save_importance(
    path: str | os.PathLike[str], name: str, report: Mapping[str, Any], *, force: bool
) -> None:
    """Record a filter ranking + pruning check (``volviz importance``) as ``/importance/NAME``.

    The whole report is the group's ``report`` attribute (JSON): layer, target, images,
    ranking, importance, and the pruning rows.
    """
    import json

    from volviz.store.edit import open_for_update, replace_group

    def fill(group: h5py.Group) -> None:
        group.attrs["report"] = json.dumps(report, default=float)

    with open_for_update(path) as handle:
        replace_group(parent_group(handle, "importance"), name, "importance", fill, force=force)


def importance_reports(file: h5py.File) -> dict[str, dict[str, Any]]:
    """Every stored importance report by name."""
    import json

    group = file.get("importance")
    if group is None:
        return {}
    out = {}
    for name in members(group):
        check(group[name], "importance")
        out[name] = json.loads(group[name].attrs["report"])
    return out
