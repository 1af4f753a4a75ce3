"""Fixtures for the exporters tests: small non-square volumes and the CNN-VIS reference data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REFERENCE


@pytest.fixture
def volume() -> np.ndarray:
    """(C, H, W) = (5, 3, 7): every axis a different length, every value distinct."""
    rng = np.random.default_rng(7)
    return (rng.standard_normal((5, 3, 7)) * 10).astype(np.float32)


@pytest.fixture
def layer4d() -> np.ndarray:
    """(N, C, H, W) = (2, 5, 3, 7)."""
    rng = np.random.default_rng(8)
    return rng.standard_normal((2, 5, 3, 7)).astype(np.float32)


@pytest.fixture
def reference() -> Path:
    return REFERENCE  # in the repo (tests/data): never skipped
