"""What scenes read from a store: layer volumes, stored orderings, other datasets."""

from __future__ import annotations

from typing import Any

import numpy as np

from volviz.errors import StoreError
from volviz.render.ordered import ChannelOrder
from volviz.render.weights import as_volume


def read_ordering(store: Any, layer: str, name: str) -> ChannelOrder:
    """The stored ordering ``name`` of ``layer`` as a ``ChannelOrder``.

    An unknown name raises ``StoreError`` listing the stored ones (``Store.ordering``).
    """
    stored = store.ordering(layer, name)
    return ChannelOrder(np.asarray(stored.order), np.asarray(stored.boundaries, np.int64), name)


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
        msg = f"is not a dataset in {store.path.name}"
        raise StoreError(msg, param="dataset", value=path)
    return as_volume(node[()], reduce=reduce, index=image, param="dataset", value=path)
