"""Fixtures of the served viewer's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serve.store import build_store


@pytest.fixture(scope="module")
def serve_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("serve") / "serve.h5")
