"""Exports as ParaView 5.11 (Debian ``paraview``) shows them, read by its own readers.

One pvpython run per module (each start costs seconds): the fixture writes every file first,
then ``pv_probe.py`` reports, per file, the reader ParaView picks, the time steps, the array
names and the value at the world point of chosen voxels, and renders one slice with ParaView's
default camera. The volume's channels, rows and columns all differ in length (W > 9: ParaView
reads a NRRD whose fastest axis has 9 or fewer samples as vector components) and every value
is distinct, so a swapped or flipped axis finds another value at the point.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from matplotlib.image import imread

from exporters import world_point, write_volume, write_xdmf
from tests.helpers import private_display

pytestmark = [pytest.mark.paraview, pytest.mark.display, pytest.mark.slow]

SPACING = (3.0, 2.0, 0.5)  # (C, H, W)
ORIGIN = (10.0, 20.0, 30.0)
SHAPE = (4, 12, 17)  # (C, H, W)
LAYER = "features.3"
XDMF_READERS = ["auto", "Xdmf3ReaderS", "Xdmf3ReaderT", "XDMFReader"]
PROBE = Path(__file__).with_name("pv_probe.py")


def _pvpython() -> str:
    """pvpython; Debian's ParaView renders through X even when offscreen (a private Xvfb)."""
    found = {name: shutil.which(name) for name in ("pvpython", "Xvfb")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        msg = f"{' and '.join(missing)} missing (Debian paraview, xvfb: dev.sh installs them)"
        if os.environ.get("CI"):
            pytest.fail(f"on CI: {msg}")
        pytest.skip(msg)
    return str(found["pvpython"])


def _run_in_xvfb(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Debian's ParaView renders through X even offscreen: run it on a private Xvfb."""
    with private_display((640, 480)) as env:
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _volume() -> np.ndarray:
    """Distinct values; channel 0 a ramp with a bright top-left block, in the upper range."""
    vol = (1300 * np.arange(np.prod(SHAPE)) / np.prod(SHAPE)).astype(np.float32).reshape(SHAPE)
    rows, cols = np.mgrid[0 : SHAPE[1], 0 : SHAPE[2]]
    vol[0] = 1000 + 100 * rows / (SHAPE[1] - 1) + 60 * cols / (SHAPE[2] - 1)  # a 2-D ramp
    vol[0, :3, :4] = 1200  # a bright block at the top left
    return vol


def _layer() -> np.ndarray:
    """(N, C, H, W) = (3, 5, 6, 11): image n holds 10000 * n + its C-order index."""
    base = np.arange(5 * 6 * 11, dtype=np.float32).reshape(5, 6, 11)
    return np.stack([base + 10000 * n for n in range(3)])


def _voxels(shape):
    c, h, w = shape
    return list(itertools.product((0, 1, c - 1), (0, 2, h - 1), (0, 3, w - 1)))


@pytest.fixture(scope="module")
def paraview(tmp_path_factory):
    pvpython = _pvpython()
    root = tmp_path_factory.mktemp("pv")
    vol, layer = _volume(), _layer()
    points = [world_point(v, SPACING, ORIGIN) for v in _voxels(vol.shape)]
    jobs: dict[str, dict] = {}
    for name in ("v.vti", "v.nrrd", "v.mhd"):
        write_volume(root / name, vol, spacing=SPACING, origin=ORIGIN, name=LAYER)
        jobs[name] = {"path": str(root / name), "points": points}
    store = root / "store.h5"
    with h5py.File(store, "w") as f:
        f.create_dataset(f"/layers/{LAYER}/activations", data=layer, chunks=(1, 1, 6, 11))
        f.create_dataset("/layers/head/activations", data=layer[:, :2, :3, :4] + 0.5)
    entries = [
        (f"/layers/{LAYER}/activations", layer.shape, layer.dtype, LAYER),
        ("/layers/head/activations", (3, 2, 3, 4), layer.dtype, "head"),
    ]
    write_xdmf(root / "s.xdmf", store, entries, spacing=SPACING, origin=ORIGIN)
    layer_points = [world_point(v, SPACING, ORIGIN) for v in _voxels(layer.shape[1:])]
    for reader in XDMF_READERS:
        jobs[f"xdmf:{reader}"] = {
            "path": str(root / "s.xdmf"),
            "reader": reader,
            "points": layer_points,
        }
    jobs["render"] = {
        "path": str(root / "v.vti"),
        "png": str(root / "slice.png"),
        "size": [340, 300],
        "slice": SHAPE[0] - 1,  # the file stores channels reversed: channel 0 is the last
        "array": LAYER,
        "range": [float(vol[0].min()), float(vol[0].max())],
    }
    (root / "jobs.json").write_text(json.dumps(jobs))
    elsewhere = tmp_path_factory.mktemp("cwd")  # relative references resolve from the files
    argv = [pvpython, "--force-offscreen-rendering", str(PROBE)]
    result = _run_in_xvfb([*argv, str(root / "jobs.json"), str(root / "out.json")], elsewhere)
    if result.returncode != 0:
        pytest.fail(f"pvpython failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads((root / "out.json").read_text()), vol, layer


def _check_values(found, volume, shape):
    for (value, _), voxel in zip(found, _voxels(shape), strict=True):
        assert value == volume[voxel], voxel


@pytest.mark.parametrize("name", ["v.vti", "v.nrrd", "v.mhd"])
def test_voxel_files_put_each_voxel_at_its_world_point(paraview, name):
    out, vol, _ = paraview
    (blocks,) = out[name]["steps"].values()
    (block,) = blocks.values()
    assert block["components"] == 1
    _check_values(block["found"], vol, vol.shape)


def test_array_named_after_the_layer(paraview):
    out, _, _ = paraview
    assert out["v.nrrd"]["reader"] == "NrrdReader"
    for name in ("v.vti", "v.nrrd"):
        (blocks,) = out[name]["steps"].values()
        assert list(blocks) == [LAYER]


@pytest.mark.parametrize("reader", XDMF_READERS)
def test_xdmf_every_reader_shows_every_layer_image_as_time(paraview, reader):
    out, _, layer = paraview
    got = out[f"xdmf:{reader}"]
    if reader == "auto":
        assert got["reader"] == "Xdmf3ReaderS"  # what OpenDataFile picks
    assert got["times"] == [0.0, 1.0, 2.0]
    for n, blocks in enumerate(got["steps"].values()):
        assert sorted(blocks) == sorted([LAYER, "head"])
        _check_values(blocks[LAYER]["found"], layer[n], layer.shape[1:])
        assert blocks["head"]["found"][0][0] == layer[n, 0, 0, 0] + 0.5


def _map_region(rgb: np.ndarray, *, light: bool) -> np.ndarray:
    """The grey map: rows and columns mostly grey (``light``: and bright, beside grey text)."""
    mask = np.ptp(rgb, axis=2) < 0.06
    if light:
        mask &= rgb.mean(axis=2) > 0.5
    per_row = mask.sum(axis=1)
    rows = np.nonzero(per_row > 0.5 * per_row.max())[0]
    per_col = mask[rows.min() : rows.max() + 1].sum(axis=0)
    cols = np.nonzero(per_col > 0.5 * per_col.max())[0]
    return rgb[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].mean(axis=2)


def _block_means(gray: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    rows = np.array_split(np.arange(gray.shape[0]), shape[0])
    cols = np.array_split(np.arange(gray.shape[1]), shape[1])
    return np.array([[gray[np.ix_(r, c)].mean() for c in cols] for r in rows])


def test_default_camera_shows_the_map_like_volviz(paraview):
    """Row 0 on top, column 0 on the left: the picture correlates with the map, not a flip."""
    out, vol, _ = paraview
    crop = _map_region(imread(out["render"]["png"])[..., :3], light=False)  # blue around it
    assert crop.shape[1] / crop.shape[0] == pytest.approx(17 * 0.5 / (12 * 2.0), rel=0.1)
    seen = _block_means(crop, SHAPE[1:]).ravel()
    want = vol[0]
    corr = {
        flip: np.corrcoef(seen, m.ravel())[0, 1]
        for flip, m in {"none": want, "rows": want[::-1], "cols": want[:, ::-1]}.items()
    }
    assert corr["none"] > 0.95, corr
    assert corr["none"] > corr["rows"] + 0.3 and corr["none"] > corr["cols"] + 0.3, corr


def test_paraview_slice_matches_volviz_render_channel(paraview, tmp_path, needs_gl):
    """The exported slice in ParaView and `volviz render --scene channel` show the same map."""
    from tests.helpers import run_cli

    out, vol, _ = paraview
    np.save(tmp_path / "vol.npy", vol)
    png = tmp_path / "channel.png"
    run_cli(
        "render",
        "--npy",
        tmp_path / "vol.npy",
        "--scene",
        "channel",
        "--channel",
        "0",
        "--cmap",
        "gray",
        "--normalize",
        "minmax",
        "--size",
        "400x300",
        "-o",
        png,
    )
    # volviz: global min-max over the volume, channel 0 in its upper range (light grey)
    ours = _block_means(_map_region(imread(png)[..., :3], light=True), SHAPE[1:])
    theirs = _block_means(
        _map_region(imread(out["render"]["png"])[..., :3], light=False), SHAPE[1:]
    )
    assert np.corrcoef(ours.ravel(), vol[0].ravel())[0, 1] > 0.95
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.95
