"""Layer statistics stored in a store: ``/analysis/<layer>`` (see docs/format.md)."""

from __future__ import annotations

import json
import os
from typing import Any

import h5py
import numpy as np

from volviz.analysis.stats import LayerStats
from volviz.errors import StoreError
from volviz.store.edit import TMP_PREFIX, open_for_update, replace_group
from volviz.store.reader import Store
from volviz.store.schema import check, members, stamp

ARRAYS = (
    "mean",
    "std",
    "minimum",
    "maximum",
    "fraction_positive",
    "top_image",
    "top_row",
    "top_col",
    "top_value",
    "correlation",
    "correlation_order",
)


def save_stats(path: str | os.PathLike[str], stats: list[LayerStats], *, force: bool) -> None:
    """Write each layer's statistics to ``/analysis/<layer>`` (replacing needs ``force``)."""
    with open_for_update(path) as handle:
        if "analysis" not in handle:
            stamp(handle.create_group("analysis"), "analysis")
        parent = handle["analysis"]
        check(parent, "analysis")
        for item in stats:

            def fill(group: h5py.Group, item: LayerStats = item) -> None:
                for key in ARRAYS:
                    group.create_dataset(key, data=getattr(item, key))
                group.attrs["n_images"] = item.n_images
                group.attrs["sparsity"] = item.sparsity
                group.attrs["dead"] = json.dumps(item.dead.tolist())
                group.attrs["always_on"] = json.dumps(item.always_on.tolist())
                group.attrs["order_metrics"] = json.dumps(item.order_metrics)

            replace_group(parent, item.layer, "layer-stats", fill, force=force)


def load_stats(store: Store, layer: str) -> LayerStats:
    """Read the statistics stored for ``layer``."""
    group = store.file.get("analysis")
    if group is None or layer not in group or layer.startswith(TMP_PREFIX):
        msg = f"no analysis stored for layer {layer!r}; run `volviz analyze {store.path.name}`"
        raise StoreError(msg)
    check(group[layer], "layer-stats")
    item = group[layer]
    arrays: dict[str, Any] = {key: item[key][()] for key in ARRAYS}
    return LayerStats(
        layer=layer,
        n_images=int(item.attrs["n_images"]),
        order_metrics=json.loads(item.attrs.get("order_metrics", "{}")),
        **arrays,
    )


def analyzed_layers(store: Store) -> list[str]:
    group = store.file.get("analysis")
    if group is None:
        return []
    names = members(group)
    return [layer for layer in store.layers if layer in names]


__all__ = ["analyzed_layers", "load_stats", "np", "save_stats"]
