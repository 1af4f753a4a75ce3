"""MagicaVoxel and binvox: read back with independent readers (py-vox-io, binvox) and the spec."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from binvox import Binvox
from matplotlib import colormaps
from pyvox.parser import VoxParser

from exporters import (
    ExportError,
    magicavoxel_palette,
    write_binvox,
    write_magicavoxel,
    write_volume,
)


def _norm(vol: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    data = vol.astype(np.float64)
    lo = data.min() if lo is None else lo
    hi = data.max() if hi is None else hi
    return np.clip((data - lo) / (hi - lo), 0, 1)


def _expected_voxels(norm: np.ndarray, threshold: float) -> dict[tuple[int, int, int], int]:
    c, h, w = np.nonzero(norm > threshold)
    index = 1 + np.rint(norm[c, h, w] * 254).astype(int)
    return {(int(x), int(y), int(z)): int(i) for x, y, z, i in zip(w, h, c, index, strict=True)}


def _spec_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """Walk the file per the published MagicaVoxel .vox spec (version 150)."""
    blob = path.read_bytes()
    magic, version = struct.unpack_from("<4si", blob, 0)
    assert (magic, version) == (b"VOX ", 150)
    main_id, main_content, main_children = struct.unpack_from("<4sii", blob, 8)
    assert (main_id, main_content) == (b"MAIN", 0)
    assert 20 + main_children == len(blob)
    chunks, offset = [], 20
    while offset < len(blob):
        cid, n, m = struct.unpack_from("<4sii", blob, offset)
        assert m == 0
        chunks.append((cid, blob[offset + 12 : offset + 12 + n]))
        offset += 12 + n
    return chunks


def test_magicavoxel_round_trip_pyvox(tmp_path, volume):
    (path,) = write_magicavoxel(tmp_path / "v.vox", volume, threshold=0.3, cmap="magma")
    vox = VoxParser(str(path)).parse()
    (model,) = vox.models
    assert tuple(model.size) == (7, 3, 5)  # x = W, y = H, z = C
    got = {(v.x, v.y, v.z): v.c for v in model.voxels}
    assert got == _expected_voxels(_norm(volume), 0.3)
    # file palette entry k is colour index k + 1 (pyvox keeps the file's entries as read)
    cmap = colormaps["magma"]
    for k in (0, 100, 254):
        want = np.rint(np.asarray(cmap(k / 254)) * 255).astype(int)
        assert tuple(vox.palette[k])[:3] == tuple(want[:3])


def test_magicavoxel_chunks_follow_spec(tmp_path, volume):
    (path,) = write_magicavoxel(tmp_path / "v.vox", volume)
    chunks = _spec_chunks(path)
    assert [c for c, _ in chunks] == [b"SIZE", b"XYZI", b"RGBA"]
    assert struct.unpack("<iii", chunks[0][1]) == (7, 3, 5)
    (n,) = struct.unpack_from("<i", chunks[1][1])
    xyzi = np.frombuffer(chunks[1][1][4:], dtype=np.uint8).reshape(n, 4)
    assert n == np.count_nonzero(_norm(volume) > 0.5) and (xyzi[:, 3] >= 1).all()
    palette = np.frombuffer(chunks[2][1], dtype=np.uint8).reshape(256, 4)
    np.testing.assert_array_equal(palette, magicavoxel_palette("viridis"))
    assert (palette[:255, 3] == 255).all()


def test_magicavoxel_too_large_raises_or_downsamples(tmp_path):
    rng = np.random.default_rng(1)
    vol = rng.random((300, 2, 3)).astype(np.float32)
    with pytest.raises(ExportError, match=r"too large for MagicaVoxel \(at most 256 per axis\)"):
        write_volume(tmp_path / "big.vox", vol, fmt="magicavoxel")
    assert list(tmp_path.iterdir()) == []
    (path,) = write_volume(tmp_path / "big.vox", vol, fmt="magicavoxel", oversize="downsample")
    (model,) = VoxParser(str(path)).parse().models
    assert tuple(model.size) == (3, 2, 150)  # channels max-pooled by 2
    pooled = vol.reshape(150, 2, 2, 3).max(axis=1)
    expected = _expected_voxels(_norm(pooled, float(vol.min()), float(vol.max())), 0.5)
    assert {(v.x, v.y, v.z): v.c for v in model.voxels} == expected


def test_binvox_round_trip_binvox_package(tmp_path, volume):
    (path,) = write_binvox(tmp_path / "v.binvox", volume, threshold=0.4, origin=(1.0, 2.0, 3.0))
    model = Binvox.read(str(path), mode="dense")
    occupied = _norm(volume) > 0.4
    assert model.data.shape == (7, 3, 5)  # [x, y, z] = [col, row, channel]
    np.testing.assert_array_equal(model.data, occupied.transpose(2, 1, 0))
    assert model.translate == [3.0, 2.0, 1.0]
    assert model.scale == 7.0


def test_binvox_long_runs_split_at_255(tmp_path):
    vol = np.zeros((3, 40, 50), dtype=np.float32)
    vol[1, 10:30, 5:45] = 1.0
    (path,) = write_binvox(tmp_path / "runs.binvox", vol)
    body = path.read_bytes().split(b"data\n", 1)[1]
    pairs = np.frombuffer(body, dtype=np.uint8).reshape(-1, 2)
    assert pairs[:, 1].min() >= 1 and pairs[:, 1].sum() == vol.size
    assert (pairs[:, 1] == 255).any()
    model = Binvox.read(str(path), mode="dense")
    np.testing.assert_array_equal(model.data, (vol > 0.5).transpose(2, 1, 0))


def test_binvox_reproduces_cnn_vis_binary_gradient(tmp_path, reference):
    grad = np.load(reference / "gradients" / "conv1_Persian_1.npy").sum(axis=1)
    (path,) = write_binvox(tmp_path / "g.binvox", grad)  # threshold 0.5 = rint(minmax01)
    legacy = np.fromfile(reference / "legacy-vox" / "Persian_1_grad.vox", dtype=np.uint8)
    model = Binvox.read(str(path), mode="dense")
    np.testing.assert_array_equal(model.data.transpose(2, 1, 0), legacy.reshape(96, 11, 11) == 1)


def test_binvox_needs_isotropic_spacing(tmp_path, volume):
    with pytest.raises(ExportError, match=r"spacing=.* must be isotropic for binvox"):
        write_binvox(tmp_path / "v.binvox", volume, spacing=(1, 2, 1))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("threshold", [-0.1, 1.0, "high", None])
def test_threshold_range(tmp_path, volume, threshold):
    with pytest.raises(ExportError, match=r"threshold=.* must be a number in \[0, 1\)"):
        write_binvox(tmp_path / "v.binvox", volume, threshold=threshold)


def test_magicavoxel_default_shows_structure_of_a_signed_layer(tmp_path):
    # A signed conv output (pre-activation): the old default (norm > 0) filled all but one voxel.
    rng = np.random.default_rng(3)
    signed = (rng.standard_normal((6, 20, 30)) + 0.3).astype(np.float32)
    (path,) = write_magicavoxel(tmp_path / "s.vox", signed)
    (model,) = VoxParser(str(path)).parse().models
    want = _expected_voxels(_norm(signed), 0.5)  # mid-range, as binvox and CNN-VIS
    assert {(v.x, v.y, v.z): v.c for v in model.voxels} == want
    assert 0.05 < len(want) / signed.size < 0.6
