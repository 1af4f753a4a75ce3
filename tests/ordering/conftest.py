"""Fixtures for the ordering tests: CNN-VIS reference data and small structured volumes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import REFERENCE


def structured_volume(n_channels: int = 40, size: int = 6, seed: int = 0) -> np.ndarray:
    """(C, size, size) ReLU maps drifting along a random walk: walk neighbours look alike."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((5, size * size))
    weights = np.cumsum(rng.standard_normal((n_channels, 5)) * 0.4, axis=0)
    noise = 0.2 * rng.standard_normal((n_channels, size * size))
    maps = np.maximum(weights @ basis + noise, 0) + 0.01
    return maps.reshape(n_channels, size, size).astype(np.float32)


@pytest.fixture
def structured() -> np.ndarray:
    return structured_volume()


@pytest.fixture
def make_volume():  # type: ignore[no-untyped-def]
    """The :func:`structured_volume` factory, for tests that need several sizes or seeds."""
    return structured_volume


@pytest.fixture(scope="session")
def conv1_cat() -> np.ndarray:
    return np.load(REFERENCE / "activations" / "conv1_cat.npy")


@pytest.fixture(scope="session")
def vis_pca() -> np.ndarray:
    path = REFERENCE / "legacy-vox" / "vis_pca.vox"
    return np.fromfile(path, dtype=np.uint8).reshape(96, 55, 55)
