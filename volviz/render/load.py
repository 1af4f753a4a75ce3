"""What scenes read from a store: layer volumes, stored orderings, other datasets."""

from __future__ import annotations

from typing import Any

import numpy as np

from volviz.errors import StoreError
from volviz.render.ordered import ChannelOrder
from volviz.render.weights import as_volume


def ordering_names(store: Any, layer: str) -> list[str]:
    """Names of the orderings stored for ``layer`` (``/layers/<key>/orderings/<name>``)."""
    if hasattr(store, "orderings"):
        return list(store.orderings(layer))
    group = store.layer_group(layer)
    if "orderings" not in group:
        return []
    return sorted(k for k in group["orderings"] if not k.startswith(".tmp-"))


def read_ordering(store: Any, layer: str, name: str) -> ChannelOrder:
    """The stored ordering ``name`` of ``layer`` as a ``ChannelOrder``.

    Uses ``Store.ordering`` (an object with ``order`` and ``boundaries``) when the reader
    has it; otherwise reads ``/layers/<key>/orderings/<name>/order`` and ``boundaries``.
    """
    names = ordering_names(store, layer)
    if name not in names:
        known = ", ".join(names) or "none"
        msg = f"--ordering {name!r} is not stored for layer {layer!r}; stored: {known}"
        raise StoreError(msg)
    if hasattr(store, "ordering"):
        stored = store.ordering(layer, name)
        order, boundaries = stored.order, getattr(stored, "boundaries", None)
    else:
        group = store.layer_group(layer)["orderings"][name]
        order = group["order"][()]
        boundaries = group["boundaries"][()] if "boundaries" in group else None
    return ChannelOrder(np.asarray(order), _optional(boundaries), name)


def _optional(boundaries: Any) -> np.ndarray | None:
    return None if boundaries is None else np.asarray(boundaries, dtype=np.int64)


def conv_layers(store: Any) -> list[str]:
    """Layers whose module type is a convolution (all layers if none records a type)."""
    layers = list(store.layers)
    typed = {k: str(store.layer_group(k).attrs.get("module_type", "")) for k in layers}
    convs = [k for k in layers if "Conv" in typed[k]]
    return convs or layers


def dataset_volume(
    store: Any, path: str, *, image: int | None = None, reduce: str = "sum"
) -> np.ndarray:
    """A (C, H, W) volume from any dataset of the store file (e.g. weight gradients).

    (C, H, W) as is; (O, I, kh, kw) reduced over I; (N, ...) indexed by ``image``.
    """
    node = store.file.get(path)
    if node is None or not hasattr(node, "shape"):
        msg = f"--dataset {path!r} is not a dataset in {store.path.name}"
        raise StoreError(msg)
    return as_volume(node[()], reduce=reduce, index=image, name=f"--dataset {path!r}")
