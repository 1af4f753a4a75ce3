"""Legacy CNN-VIS .vox + .hd: byte-exact reproduction, the fixed header, reading both."""

from __future__ import annotations

import numpy as np
import pytest

from exporters import (
    ExportError,
    read_legacy_header,
    read_legacy_vox,
    write_legacy_vox,
    write_volume,
)

LEGACY_HD = b"Size 55x55x96 unsigned byte \nSpacing 1.0x1.0x1.0"


def test_conv1_reproduces_l1_conv1_vox_byte_for_byte(tmp_path, reference):
    acts = np.load(reference / "activations" / "conv1_cat.npy")
    assert acts.min() == 0.0 and acts.max() == 255.0  # already on the 0..255 scale
    vox, hd = write_legacy_vox(tmp_path / "L1_conv1.vox", acts)
    assert vox.read_bytes() == (reference / "legacy-vox" / "L1_conv1.vox").read_bytes()
    # square maps: the corrected header starts exactly like the original one
    assert hd.read_bytes().startswith(LEGACY_HD)
    assert (reference / "legacy-vox" / "L1_conv1.hd").read_bytes() == LEGACY_HD


def test_minmax_rescaling_is_what_makes_the_bytes(tmp_path, reference):
    """Shifted and scaled input gives the same bytes: the file is rint(minmax * 255)."""
    acts = np.load(reference / "activations" / "conv1_cat.npy").astype(np.float64)
    vox, _ = write_legacy_vox(tmp_path / "a.vox", acts / 255.0 * 3.5 - 1.25)
    assert vox.read_bytes() == (reference / "legacy-vox" / "L1_conv1.vox").read_bytes()


def test_write_volume_dispatches_legacy(tmp_path, reference):
    acts = np.load(reference / "activations" / "conv1_cat.npy")
    written = write_volume(tmp_path / "x.vox", acts, fmt="legacy-vox")
    assert [p.name for p in written] == ["x.vox", "x.hd"]
    assert written[0].read_bytes() == (reference / "legacy-vox" / "L1_conv1.vox").read_bytes()


def test_read_original_files(reference):
    legacy = reference / "legacy-vox"
    acts = np.load(reference / "activations" / "conv1_cat.npy")
    vol = read_legacy_vox(legacy / "L1_conv1.vox")
    assert vol.shape == (96, 55, 55) and vol.dtype == np.uint8
    np.testing.assert_array_equal(vol, np.rint(acts).astype(np.uint8))
    pca = read_legacy_vox(legacy / "vis_pca.vox", legacy / "L1_conv1.hd")
    assert pca.shape == (96, 55, 55)
    header = read_legacy_header(legacy / "L1_conv1.hd")
    assert header.shape == (96, 55, 55)
    assert header.spacing == (1.0, 1.0, 1.0)
    assert header.fixed is False


def test_non_square_header_names_fastest_axis_first(tmp_path, volume):
    vox, hd = write_legacy_vox(tmp_path / "v.vox", volume, spacing=(3.0, 2.0, 0.5))
    text = hd.read_text()
    assert text.startswith("Size 7x3x5 unsigned byte \nSpacing 0.5x2.0x3.0\nOrder WxHxC")
    raw = np.frombuffer(vox.read_bytes(), dtype=np.uint8)
    lo, hi = volume.min(), volume.max()
    expected = np.rint((volume.astype(np.float64) - lo) / (hi - lo) * 255).astype(np.uint8)
    np.testing.assert_array_equal(raw.reshape(5, 3, 7), expected)  # C order, x fastest
    back = read_legacy_vox(vox)
    np.testing.assert_array_equal(back, expected)
    assert read_legacy_header(hd).spacing == (3.0, 2.0, 0.5)


def test_legacy_non_square_header_is_read_as_the_legacy_writer_wrote_it(tmp_path):
    vol = np.arange(105, dtype=np.uint8).reshape(5, 3, 7)
    (tmp_path / "old.vox").write_bytes(vol.tobytes())
    (tmp_path / "old.hd").write_bytes(
        b"Size 3x7x5 unsigned byte \nSpacing 1.0x1.0x1.0"
    )  # H x W x C
    np.testing.assert_array_equal(read_legacy_vox(tmp_path / "old.vox"), vol)
    forced = read_legacy_vox(tmp_path / "old.vox", layout="fixed")
    assert forced.shape == (5, 7, 3)  # the other reading, on request


def test_constant_volume_gives_zeros(tmp_path):
    vox, _ = write_legacy_vox(tmp_path / "c.vox", np.full((2, 3, 4), 7.0))
    assert vox.read_bytes() == bytes(24)


@pytest.mark.parametrize(
    ("hd_text", "size", "match"),
    [
        (
            b"Size 7x3x5 unsigned byte \n",
            104,
            r"holds 104 bytes but its header's Size gives 105 \(read as C=5, H=7, W=3\)",
        ),
        (b"Dims 7 3 5\n", 105, r"has no 'Size AxBxC unsigned byte' line"),
        (b"Size 7x3x5 float \n", 105, r"element type 'float' is not 'unsigned byte'"),
    ],
)
def test_bad_legacy_pairs(tmp_path, hd_text, size, match):
    (tmp_path / "b.vox").write_bytes(bytes(size))
    (tmp_path / "b.hd").write_bytes(hd_text)
    with pytest.raises(ExportError, match=match):
        read_legacy_vox(tmp_path / "b.vox")


def test_missing_header(tmp_path):
    (tmp_path / "b.vox").write_bytes(bytes(8))
    with pytest.raises(ExportError, match=r"hd_path='.*b\.hd' could not be read"):
        read_legacy_vox(tmp_path / "b.vox")
