"""A hand-built store for the served viewer and notebook: every picked value is known exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# conv1 (5x7x9) of image 0 is zero except this voxel (channel, row, column).
BRIGHT = (4, 3, 4)
BRIGHT_VALUE = 7.5
# Stored ordering 'perm' of conv1: original channel 4 shows at slice 2 (the centre).
PERM = np.array([3, 0, 4, 2, 1])


def build_store(path: Path) -> Path:
    """Two images (a, b); conv1 (5, 7, 9) with ordering 'perm' and /analysis; conv2 (8, 6, 10)."""
    from volviz.analysis.stats import layer_stats
    from volviz.store import Store, StoreWriter
    from volviz.store.analysis import save_stats
    from volviz.store.orderings import StoredOrdering, save_ordering

    conv1 = np.zeros((2, 5, 7, 9), np.float32)
    conv1[(0, *BRIGHT)] = BRIGHT_VALUE
    conv1[1] = np.arange(5 * 7 * 9, dtype=np.float32).reshape(5, 7, 9) / 1000
    conv2 = np.maximum(np.random.default_rng(0).standard_normal((2, 8, 6, 10)), 0)
    inputs = [{"source": "tensor", "name": n, "label": "", "sha256": ""} for n in ("a", "b")]
    attrs = {k: {"module_type": "Conv2d"} for k in ("conv1", "conv2")}
    with StoreWriter(path, attrs={"model": "test"}) as writer:
        writer.append(
            inputs, {"conv1": conv1, "conv2": conv2.astype(np.float32)}, layer_attrs=attrs
        )
    save_ordering(path, "conv1", StoredOrdering("perm", PERM, np.array([], np.int64), "test"))
    with Store(path) as store:
        stats = [layer_stats(store.activations("conv1"), "conv1", order=False)]
    save_stats(path, stats, force=False)
    return path
