from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from volviz.capture.inputs import SAMPLES, resolve_inputs
from volviz.errors import InputError


@pytest.fixture
def photo_tree(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(2):
            pixels = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{label}{i}.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "loose.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_folder_labels_come_from_subfolders(photo_tree):
    items = resolve_inputs([str(photo_tree)])
    assert [(i.name, i.label) for i in items] == [
        ("cat0", "cat"),
        ("cat1", "cat"),
        ("dog0", "dog"),
        ("dog1", "dog"),
        ("loose", ""),
    ]


def test_glob_and_samples(photo_tree):
    items = resolve_inputs([str(photo_tree / "*" / "*1.png"), "sample:coffee"])
    assert [i.name for i in items] == ["cat1", "dog1", "coffee"]
    assert items[2].load().size == (600, 400)
    assert len(items[2].sha256()) == 64


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_loads_offline_as_rgb(name):
    img = resolve_inputs([f"sample:{name}"])[0].load()
    assert img.mode == "RGB" and min(img.size) >= 256


def test_grey_palette_and_alpha_become_rgb(tmp_path):
    Image.fromarray(np.full((4, 4), 77, np.uint8)).save(tmp_path / "grey.png")
    pal = Image.new("P", (4, 4), color=1)
    pal.putpalette([0, 0, 0, 200, 10, 30])
    pal.save(tmp_path / "pal.png")
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # one opaque red pixel, the rest fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    got = {i.name: np.asarray(i.load()) for i in resolve_inputs([str(tmp_path)])}
    assert all(a.shape == (4, 4, 3) for a in got.values())
    assert (got["grey"] == 77).all()
    assert (got["pal"] == (200, 10, 30)).all()
    assert tuple(got["alpha"][0, 0]) == (255, 0, 0)
    assert (got["alpha"][1:] == 255).all()  # transparent -> white, not black


def test_bad_inputs_name_the_culprit(photo_tree):
    with pytest.raises(InputError, match="notes.txt' is not a readable image"):
        resolve_inputs([str(photo_tree / "notes.txt")])
    with pytest.raises(InputError, match="'nope.png' does not exist"):
        resolve_inputs(["nope.png"])
    with pytest.raises(InputError, match=r"pattern '.*\*.bmp' matches no files"):
        resolve_inputs([str(photo_tree / "*.bmp")])
    with pytest.raises(InputError, match="'sample:dog' is not a bundled sample"):
        resolve_inputs(["sample:dog"])
    with pytest.raises(InputError, match="INPUTS is empty"):
        resolve_inputs([])
