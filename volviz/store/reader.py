"""Read a store: layer volumes one image at a time, inputs, predictions and provenance."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from volviz.errors import StoreError
from volviz.store.compression import require_filters
from volviz.store.schema import check, members, read_attrs


class Store:
    """An open store file (read-only). Use as a context manager or call ``close()``.

    ``writing`` is true when the file is still marked open for writing (a ``volviz.track``
    run that is appending or whose process died): it is then read in SWMR mode (``swmr``),
    and ``volume`` reads a tracked layer's newest complete record from its timeline.

    Examples
    --------
    >>> with Store("demo.h5") as store:  # doctest: +SKIP
    ...     vol = store.volume("_conv_stem", "chelsea")  # (C, H, W) float32
    """

    def __init__(self, path: str | os.PathLike[str], *, swmr: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            msg = f"FILE {str(self.path)!r} does not exist"
            raise StoreError(msg)
        self.file, self.writing = open_read_only(self.path, swmr=swmr)
        self.swmr = swmr or self.writing
        self._handles: dict[str, h5py.Dataset] = {}
        try:
            self.version = check(self.file, "volviz-store")
            check(self.file["inputs"], "inputs")
            check(self.file["layers"], "layers")
            require_filters(self.file)  # Blosc2 needs hdf5plugin: a clear error, not NaNs
            if "shards" in self.file.attrs:  # a merged store reads through its shard files
                from volviz.store.shards import shard_problems

                if problems := shard_problems(self.file):
                    msg = "; ".join(problems)
                    raise StoreError(msg)
        except (KeyError, StoreError):
            self.file.close()
            raise

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._handles.clear()
        self.file.close()

    def dataset(self, name: str) -> h5py.Dataset:
        """The one open handle of dataset ``name`` (a path in the file) for this store.

        Datasets a live run appends to are read through these: in SWMR mode, refreshing one
        of two open handles of the same dataset leaves reads through them stale (HDF5 2.0).
        """
        if name not in self._handles:
            self._handles[name] = self.file[name]
        return self._handles[name]

    @property
    def layers(self) -> list[str]:
        """Layer keys in network order (the order they were captured)."""
        group = self.file["layers"]
        keys = members(group)
        return sorted(keys, key=lambda k: int(group[k].attrs.get("index", 0)))

    @property
    def n_images(self) -> int:
        return int(self.file["inputs/name"].shape[0])

    @cached_property
    def inputs(self) -> list[dict[str, str]]:
        """One record per image (source, name, label, sha256); read once per open store."""
        group = self.file["inputs"]
        keys = [k for k in group if isinstance(group[k], h5py.Dataset)]
        columns = {k: group[k].asstr()[()] for k in keys}
        return [{k: str(columns[k][i]) for k in keys} for i in range(self.n_images)]

    @cached_property
    def provenance(self) -> dict[str, Any]:
        """Root attributes (model, weights, preprocessing, versions, ...), JSON decoded."""
        return read_attrs(self.file)

    def model_spec(self) -> dict[str, Any]:
        """Arguments of ``load_model`` that build the model which wrote this store again:
        ``name``, ``weights`` (``None``: that model's default) and ``seed``.

        Stores record the weights argument (``weights_option``); for stores written before,
        it is read back from the weights label. Tensor inputs and imported arrays have no
        model to rebuild: :class:`StoreError`.
        """
        prov = self.provenance
        sources = {r["source"] for r in self.inputs}
        if prov.get("model") in (None, "imported") or "tensor" in sources:
            msg = "holds tensors or imported arrays, not images a named model saw"
            raise StoreError(msg, param="store", value=self.path)
        if "weights_option" in prov:
            weights = str(prov["weights_option"]) or None
        else:
            label = str(prov.get("weights", ""))
            named = label.rsplit(".", 1)[-1] if "_Weights." in label else label
            weights = None if label.startswith("imagenet (embedded") or not label else named
        seed = int(prov.get("seed", 0))
        return {"name": str(prov["model"]), "weights": weights, "seed": max(seed, 0)}

    def layer_group(self, layer: str) -> h5py.Group:
        group = self.file["layers"]
        if layer not in group:
            import difflib

            close = difflib.get_close_matches(layer, list(group), n=5, cutoff=0.4)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            msg = f"is not in {self.path.name}{hint}"
            raise StoreError(msg, param="layer", value=layer)
        check(group[layer], "layer")
        return group[layer]

    def activations(self, layer: str) -> h5py.Dataset:
        """The (N, C, H, W) dataset of ``layer``, not loaded."""
        ds = self.layer_group(layer)["activations"]
        check(ds, "activations")
        return ds

    def image_index(self, image: int | str) -> int:
        """Index of an image given as an index or as its name."""
        n = self.n_images
        if isinstance(image, str) and not image.lstrip("-").isdigit():
            names = [r["name"] for r in self.inputs]
            hits = [i for i, name in enumerate(names) if name == image]
            if not hits:
                shown = ", ".join(names[:10]) + (f", ... ({n} in all)" if n > 10 else "")
                msg = f"is not in {self.path.name}; images: {shown}"
                raise StoreError(msg, param="image", value=image)
            if len(hits) > 1:  # never pick one silently
                where = ", ".join(map(str, hits[:10])) + (", ..." if len(hits) > 10 else "")
                msg = f"names {len(hits)} images of {self.path.name} ({where}): give an index"
                raise StoreError(msg, param="image", value=image)
            return hits[0]
        index = int(image)
        if not -n <= index < n:
            msg = f"is out of range: {self.path.name} holds {n} images"
            raise StoreError(msg, param="image", value=index)
        return index % n

    def volume(self, layer: str, image: int | str = 0) -> np.ndarray:
        """One image's activations of ``layer``: ndarray of shape (C, H, W), float32.

        Only that image's chunks are read. In SWMR mode a tracked layer is read from its
        newest complete record (``/layers/<key>/activations`` is rewritten in place there).
        """
        group = self.layer_group(layer)
        if self.swmr and "timeline_activations" in group:
            series = self.dataset(f"{group.name}/timeline_activations")
            values = self._newest_record(series, self.image_index(image))
        else:
            index = self.image_index(image)
            try:
                values = self.activations(layer)[index]
            except OSError as exc:  # a chunk failing its checksum, a truncated shard...
                msg = (
                    f"FILE {str(self.path)!r}: layer {layer!r} image {index} cannot be read "
                    f"(damaged: a checksum or decompression failed; `volviz validate` lists "
                    f"every damaged dataset) ({exc})"
                )
                raise StoreError(msg) from exc
        return np.ascontiguousarray(values, dtype=np.float32)

    def _newest_record(self, series: h5py.Dataset, image: int) -> np.ndarray:
        step = self.dataset("/timeline/step")
        step.refresh()  # the step column first: its length counts complete records
        series.refresh()
        n = min(step.shape[0], series.shape[0])
        if n == 0:
            msg = f"{self.path.name} has no complete record yet"
            raise StoreError(msg)
        return np.asarray(series[n - 1, image])

    def orderings(self, layer: str) -> list[str]:
        """Names of the orderings stored for ``layer``."""
        from volviz.store.orderings import list_orderings

        return list_orderings(self, layer)

    def ordering(self, layer: str, name: str) -> Any:
        """A stored ``StoredOrdering`` (``.order``, ``.boundaries``, ``.method``, ``.metrics``)."""
        from volviz.store.orderings import load_ordering

        return load_ordering(self, layer, name)

    def predictions(self) -> dict[str, np.ndarray] | None:
        """``logits`` (N, K), ``top_index`` (N, k), ``top_prob`` (N, k), ``class_names`` (K,)."""
        if "predictions" not in self.file:
            return None
        group = self.file["predictions"]
        check(group, "predictions")
        out = {k: group[k][()] for k in ("logits", "top_index", "top_prob")}
        if "class_names" in group:
            out["class_names"] = group["class_names"].asstr()[()]
        return out


def open_read_only(path: Path, *, swmr: bool = False) -> tuple[h5py.File, bool]:
    """Open ``path`` read-only; return the file and whether its write flag was set.

    The one place every command opens a store. A file whose write flag is set (a
    ``volviz.track`` run still appending, or one whose process died) opens read-only in
    SWMR mode: every record completed before that moment reads, nothing is changed on
    disk. ``swmr=True`` asks for SWMR mode directly (following a live run with
    ``refresh()``).
    """
    name = repr(str(path))
    try:
        return h5py.File(path, "r", swmr=swmr), False
    except OSError as exc:
        if swmr or "already open for write" not in str(exc):
            raise StoreError(_unreadable(name, exc)) from exc
    try:  # the write flag is set: a live writer, or a stale flag left by one that died
        return h5py.File(path, "r", swmr=True), True
    except OSError as exc:
        msg = (
            f"FILE {name} was left open for writing by a process that did not finish, "
            f"outside SWMR mode, so no part of it can be trusted ({exc})"
        )
        raise StoreError(msg) from exc


def _unreadable(name: str, exc: OSError) -> str:
    if "unable to lock file" in str(exc):
        return (
            f"FILE {name} is being written by another process that has not switched to "
            "SWMR mode yet (a volviz.track run does so after creating the file); try again"
        )
    return f"FILE {name} is not a readable HDF5 file ({exc})"


def open_store(path: str | os.PathLike[str]) -> Store:
    """Open a store file for reading (see ``Store``)."""
    return Store(path)
