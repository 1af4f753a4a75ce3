"""Channel orderings stored beside a layer's activations (the data is never reordered).

``/layers/<key>/orderings/<name>``: dataset ``order`` int64 (C,), where ``order[i]`` is the
original channel shown at position ``i``; optional ``boundaries`` int64 (positions where a
new cluster starts); attributes ``method``, ``params``, ``metrics`` (JSON) and ``images``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import h5py
import numpy as np

from volviz.errors import StoreError
from volviz.store.edit import open_for_update, replace_group
from volviz.store.reader import Store
from volviz.store.schema import check, members


@dataclass
class StoredOrdering:
    """A permutation of a layer's channels and how it was obtained."""

    name: str
    order: np.ndarray
    boundaries: np.ndarray
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    images: list[int] | str = "all"

    def original_channel(self, position: int) -> int:
        """The original channel index of the slice displayed at ``position``."""
        return int(self.order[position])


def save_ordering(
    path: str | os.PathLike[str],
    layer: str,
    ordering: StoredOrdering,
    *,
    force: bool = False,
) -> None:
    """Store ``ordering`` under ``layer``; replacing an existing name needs ``force``."""
    with Store(path) as store:
        channels = store.activations(layer).shape[1]
    order = np.asarray(ordering.order, dtype=np.int64)
    if sorted(order.tolist()) != list(range(channels)):
        msg = f"ordering {ordering.name!r} is not a permutation of the {channels} channels"
        raise StoreError(msg)

    def fill(group: h5py.Group) -> None:
        group.create_dataset("order", data=order)
        group.create_dataset("boundaries", data=np.asarray(ordering.boundaries, np.int64))
        group.attrs["method"] = ordering.method
        group.attrs["params"] = json.dumps(ordering.params, default=str)
        group.attrs["metrics"] = json.dumps(ordering.metrics)
        group.attrs["images"] = json.dumps(ordering.images)
        group.attrs["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")

    with open_for_update(path) as handle:
        layer_group = handle["layers"][layer]
        parent = layer_group.require_group("orderings")
        replace_group(parent, ordering.name, "ordering", fill, force=force)


def list_orderings(store: Store, layer: str) -> list[str]:
    group = store.layer_group(layer)
    if "orderings" not in group:
        return []
    return sorted(members(group["orderings"]))


def load_ordering(store: Store, layer: str, name: str) -> StoredOrdering:
    """Read a stored ordering; an unknown name lists the stored ones."""
    names = list_orderings(store, layer)
    if name not in names:
        have = ", ".join(names) if names else "none (run `volviz order` first)"
        msg = f"is not stored for layer {layer!r}; stored: {have}"
        raise StoreError(msg, param="ordering", value=name)
    group = store.layer_group(layer)["orderings"][name]
    check(group, "ordering")
    return StoredOrdering(
        name=name,
        order=group["order"][()].astype(np.int64),
        boundaries=group["boundaries"][()].astype(np.int64),
        method=str(group.attrs["method"]),
        params=json.loads(group.attrs.get("params", "{}")),
        metrics=json.loads(group.attrs.get("metrics", "{}")),
        images=json.loads(group.attrs.get("images", '"all"')),
    )


def ordering_input(store: Store, layer: str, images: Sequence[int] | None) -> np.ndarray:
    """(C, H, W) for one image or (N, C, H, W) for several/all, as float32."""
    ds = store.activations(layer)
    if images is not None and len(images) == 1:
        return np.asarray(ds[images[0]], dtype=np.float32)
    index = slice(None) if images is None else sorted(set(images))
    return np.asarray(ds[index], dtype=np.float32)


def plain_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics as JSON-ready Python numbers."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in metrics.items()}
