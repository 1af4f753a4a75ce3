"""Fixtures for rendering tests: non-square volumes, a small store, a reference-image check.

Reference pictures live in tests/render/images/. A missing one is written (and the test
fails in CI, where references must be committed); ``VOLVIZ_UPDATE_IMAGES=1`` rewrites them
all. Look at every new or changed picture before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import volviz.render  # noqa: F401  (EGL + triton import order before any render)

IMAGES = Path(__file__).resolve().parent / "images"
# Mean absolute difference (0..255) and share of pixels off by more than 48 that still pass:
# software GL differs slightly between Mesa builds; a moved or missing object does not pass.
MEAN_TOLERANCE = 4.0
PIXEL_TOLERANCE = 0.03


def marker_volume(c: int = 12, h: int = 20, w: int = 32) -> np.ndarray:
    """(C, H, W) float32 that shows its axes: a blob at row 5 whose column grows with the
    channel (column 4 + 2 * channel), and a bright bar over rows 14..17 in channels 0..2."""
    z, y, x = np.mgrid[0:c, 0:h, 0:w].astype(np.float32)
    v = np.exp(-((x - (4 + 2 * z)) ** 2 + (y - 5) ** 2) / 4.0)
    v[:3, 14:18, :] = 1.0
    return v.astype(np.float32)


@pytest.fixture
def marker() -> np.ndarray:
    return marker_volume()


@pytest.fixture(autouse=True)
def _offscreen() -> None:
    import pyvista as pv

    pv.OFF_SCREEN = True


@pytest.fixture
def check_image(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``check(frame, name)``: compare a frame (H, W, 3) uint8 with ``images/NAME.png``."""
    return lambda actual, name: _check_image(actual, name, tmp_path)


def _check_image(actual: np.ndarray, name: str, tmp_path: Path) -> None:
    from PIL import Image

    reference = IMAGES / f"{name}.png"
    if os.environ.get("VOLVIZ_UPDATE_IMAGES") or not reference.exists():
        IMAGES.mkdir(exist_ok=True)
        Image.fromarray(actual).save(reference)
        if os.environ.get("CI"):
            pytest.fail(f"reference image {reference.name} was missing in CI")
        return
    expected = np.asarray(Image.open(reference).convert("RGB"))
    assert expected.shape == actual.shape, (expected.shape, actual.shape)
    diff = np.abs(expected.astype(float) - actual.astype(float)).max(axis=2)
    mean, share = diff.mean(), (diff > 48).mean()
    if mean > MEAN_TOLERANCE or share > PIXEL_TOLERANCE:
        failed = tmp_path / f"{name}.actual.png"
        Image.fromarray(actual).save(failed)
        pytest.fail(f"{name}: mean difference {mean:.2f}, {share:.1%} pixels off; wrote {failed}")


@pytest.fixture(scope="session")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store without torch: two images, layers conv1 (12x20x32) and conv2 (24x10x16),
    conv1 with a stored ordering ``rev`` (reversed, clusters at 4 and 8)."""
    from volviz.store import StoreWriter
    from volviz.store.orderings import StoredOrdering, save_ordering

    path = tmp_path_factory.mktemp("render") / "small.h5"
    rng = np.random.default_rng(0)
    conv1 = np.stack([marker_volume(), marker_volume()[:, ::-1, :]])
    conv2 = np.maximum(rng.standard_normal((2, 24, 10, 16)), 0).astype(np.float32)
    inputs = [{"source": "tensor", "name": n, "label": "", "sha256": ""} for n in ("a", "b")]
    attrs = {k: {"module_type": "Conv2d"} for k in ("conv1", "conv2")}
    with StoreWriter(path, attrs={"model": "test"}) as writer:
        writer.append(inputs, {"conv1": conv1, "conv2": conv2}, layer_attrs=attrs)
    rev = StoredOrdering("rev", np.arange(12)[::-1].copy(), np.array([4, 8]), "test")
    save_ordering(path, "conv1", rev)
    return path
