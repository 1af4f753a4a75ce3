"""Bad input: one ExportError (a ValueError) naming the parameter and value, and no file left."""

from __future__ import annotations

import numpy as np
import pytest

import exporters
from exporters import ExportError, write_volume

# every voxel format through the one entry point: (file name, fmt, accepts 4-D)
FORMATS = [
    ("v.vti", None, False),
    ("v.nrrd", None, True),
    ("v.nii.gz", None, True),
    ("v.mhd", None, False),
    ("v.npy", None, True),
    ("v.vox", "legacy-vox", False),
    ("v.vox", "magicavoxel", False),
    ("v.binvox", None, False),
]
IDS = [f"{name}-{fmt}" for name, fmt, _ in FORMATS]


def _entries(folder):
    return sorted(p.name for p in folder.rglob("*"))


def _fails(tmp_path, name, fmt, volume, match, **kwargs):
    before = _entries(tmp_path)
    with pytest.raises(ExportError, match=match) as info:
        write_volume(tmp_path / name, volume, fmt=fmt, **kwargs)
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)
    assert _entries(tmp_path) == before  # nothing partial, no temp folder


@pytest.mark.parametrize(("name", "fmt", "four_d"), FORMATS, ids=IDS)
def test_all_formats_write(tmp_path, volume, name, fmt, four_d):
    written = write_volume(tmp_path / name, volume, fmt=fmt)
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    assert _entries(tmp_path) == sorted(p.name for p in written)


@pytest.mark.parametrize(("name", "fmt", "four_d"), FORMATS, ids=IDS)
def test_wrong_number_of_dimensions(tmp_path, name, fmt, four_d):
    want = r"3-D or 4-D array \(C, H, W\) or \(N, C, H, W\)" if four_d else r"3-D array \(C, H, W\)"
    _fails(tmp_path, name, fmt, np.ones((3, 7)), rf"volume must be a {want}, got shape \(3, 7\)")
    if not four_d:
        _fails(tmp_path, name, fmt, np.ones((2, 2, 3, 4)), r"got shape \(2, 2, 3, 4\)")


@pytest.mark.parametrize(("name", "fmt", "four_d"), FORMATS, ids=IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(tmp_path, volume, name, fmt, four_d, bad):
    volume[2, 1, 3] = bad
    _fails(tmp_path, name, fmt, volume, r"volume contains 1 non-finite values \(NaN or inf\)")


@pytest.mark.parametrize(("name", "fmt", "four_d"), FORMATS, ids=IDS)
def test_missing_folder(tmp_path, volume, name, fmt, four_d):
    _fails(tmp_path, f"nope/{name}", fmt, volume, r"folder '.*nope' does not exist")


@pytest.mark.parametrize(("name", "fmt", "four_d"), FORMATS, ids=IDS)
def test_parent_is_a_file(tmp_path, volume, name, fmt, four_d):
    (tmp_path / "file").write_text("x")
    _fails(tmp_path, f"file/{name}", fmt, volume, r"is not a folder")


@pytest.mark.parametrize(("name", "fmt", "four_d"), FORMATS, ids=IDS)
def test_existing_file_needs_overwrite(tmp_path, volume, name, fmt, four_d):
    (tmp_path / name).write_bytes(b"old")
    _fails(tmp_path, name, fmt, volume, r"already exists; pass overwrite=True")
    assert (tmp_path / name).read_bytes() == b"old"
    write_volume(tmp_path / name, volume, fmt=fmt, overwrite=True)
    assert (tmp_path / name).read_bytes() != b"old"


@pytest.mark.parametrize(("name", "fmt", "four_d"), FORMATS, ids=IDS)
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spacing": (1.0, 0.0, 1.0)}, r"spacing=\(1.0, 0.0, 1.0\) must be positive"),
        ({"spacing": (1.0, 2.0)}, r"spacing=\(1.0, 2.0\) must be 3 finite numbers in \(C, H, W\)"),
        ({"origin": ("a", 0, 0)}, r"origin=\('a', 0, 0\) must be 3 numbers in \(C, H, W\) order"),
        ({"metadata": {"bad key": "x"}}, r"metadata key 'bad key' must match"),
        ({"metadata": {"layer": "a\nb"}}, r"metadata\['layer'\] must be one printable line"),
        ({"metadata": {"layer": 3}}, r"metadata\['layer'\] must be a str, got int 3"),
    ],
)
def test_bad_parameters(tmp_path, volume, name, fmt, four_d, kwargs, match):
    _fails(tmp_path, name, fmt, volume, match, **kwargs)


@pytest.mark.parametrize(("name", "fmt", "four_d"), FORMATS, ids=IDS)
@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((0, 3, 3)), r"volume is empty, got shape \(0, 3, 3\)"),
        (np.ones((2, 2, 2), dtype=complex), r"volume must be a real numeric array, got dtype"),
        (np.ones((2, 2, 2), dtype=bool), r"volume must be a real numeric array, got dtype bool"),
    ],
)
def test_bad_arrays(tmp_path, name, fmt, four_d, array, match):
    _fails(tmp_path, name, fmt, array, match)


@pytest.mark.parametrize("name", ["v.vti", "v.nrrd", "v.nii.gz", "v.mhd"])
def test_dtype_the_format_cannot_store(tmp_path, volume, name):
    _fails(tmp_path, name, None, volume.astype(np.float16), r"volume has dtype float16, which")


def test_too_large_for_nifti(tmp_path):
    _fails(
        tmp_path,
        "long.nii.gz",
        None,
        np.zeros((1, 1, 40000), np.float32),
        r"too large for NIfTI-1, which allows at most 32767 per axis",
    )


def test_failure_inside_a_writer_leaves_nothing(tmp_path, volume, monkeypatch):
    def half_then_fail(path, data, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(
        exporters.volumes, "write_mhd", lambda paths, *a, **k: half_then_fail(paths[1], None)
    )
    monkeypatch.setitem(exporters.volumes._EXACT_WRITERS, "nrrd", half_then_fail)
    for name in ("v.nrrd", "v.mhd"):
        _fails(tmp_path, name, None, volume, r"could not be written: No space left on device")
    assert _entries(tmp_path) == []


def test_reading_missing_file(tmp_path):
    with pytest.raises(ExportError, match=r"path='.*none\.nrrd' does not exist"):
        exporters.read_volume(tmp_path / "none.nrrd")
