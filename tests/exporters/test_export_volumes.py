"""Round trips of the exact voxel formats through each format's own, independent reader."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkIOImage import vtkMetaImageReader
from vtkmodules.vtkIOXML import vtkXMLImageDataReader

import exporters
from exporters import ExportError, read_volume, write_volume

SPACING = (3.0, 2.0, 0.5)  # (C, H, W)
ORIGIN = (10.0, 20.0, 30.0)  # (C, H, W)
META = {"layer": "features.0", "image": "cat.jpg", "normalization": "none", "ordering": "pca"}


def _vtk_volume(image) -> tuple[np.ndarray, tuple, tuple, tuple]:
    dims = image.GetDimensions()
    arr = vtk_to_numpy(image.GetPointData().GetScalars())
    return arr.reshape(dims[::-1]), dims, image.GetSpacing(), image.GetOrigin()


def read_vti_independently(path: Path) -> tuple[np.ndarray, dict]:
    reader = vtkXMLImageDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    data, dims, spacing, origin = _vtk_volume(image)
    fields = image.GetFieldData()
    meta = {
        fields.GetAbstractArray(i).GetName(): fields.GetAbstractArray(i).GetValue(0)
        for i in range(fields.GetNumberOfArrays())
    }
    return data, {"dims": dims, "spacing": spacing, "origin": origin, "meta": meta}


def read_mhd_independently(path: Path) -> tuple[np.ndarray, dict]:
    reader = vtkMetaImageReader()
    reader.SetFileName(str(path))
    reader.Update()
    data, dims, spacing, origin = _vtk_volume(reader.GetOutput())
    header = dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition("=") for line in path.read_text().splitlines())
    )
    meta = {k: header[k] for k in META}
    raw = np.fromfile(path.with_suffix(".raw"), dtype=data.dtype)
    # the raw file itself, x fastest, equals the C-order bytes of (C, H, W)
    assert header["DimSize"] == " ".join(str(d) for d in dims)
    return raw.reshape(dims[::-1]), {
        "dims": dims,
        "spacing": spacing,
        "origin": origin,
        "meta": meta,
    }


def read_nrrd_independently(path: Path) -> tuple[np.ndarray, dict]:
    data, header = nrrd.read(str(path))  # Fortran order: (x, y, z) = (W, H, C)
    steps = np.abs(header["space directions"][:3]).sum(axis=1)
    return data.T, {
        "dims": tuple(int(s) for s in header["sizes"][:3]),
        "spacing": tuple(steps),
        "origin": tuple(header["space origin"]),
        "meta": {k: header[k] for k in META},
    }


def read_nifti_independently(path: Path) -> tuple[np.ndarray, dict]:
    img = nib.load(str(path))
    data = np.asanyarray(img.dataobj)  # (i, j, k) = (W, H, C)
    (ext,) = [e for e in img.header.extensions if e.get_code() == 6]
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine  # NIfTI is RAS; ITK and VTK are LPS
    assert np.array_equal(np.sign(np.diag(lps)[:3]), [1, 1, 1])  # identity direction
    return data.T, {
        "dims": data.shape[:3],
        "spacing": tuple(np.diag(lps)[:3]),
        "origin": tuple(lps[:3, 3]),
        "meta": json.loads(ext.content.decode()),
    }


READERS = {
    "vol.vti": read_vti_independently,
    "vol.mhd": read_mhd_independently,
    "vol.nrrd": read_nrrd_independently,
    "vol.nii.gz": read_nifti_independently,
    "vol.nii": read_nifti_independently,
}


@pytest.mark.parametrize("name", list(READERS))
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8", "int16"])
def test_round_trip_exact_with_axes_spacing_metadata(tmp_path, volume, name, dtype):
    vol = (volume if dtype.startswith("float") else np.abs(volume)).astype(dtype)
    written = write_volume(tmp_path / name, vol, spacing=SPACING, origin=ORIGIN, metadata=META)
    data, info = READERS[name](written[0])
    assert data.dtype == vol.dtype
    # Files store rows and channels reversed: file index (i, j, k) = (col, H-1-row, C-1-channel)
    np.testing.assert_array_equal(data, vol[::-1, ::-1, :])
    assert tuple(info["dims"]) == (7, 3, 5)  # (W, H, C): x = column fastest
    assert tuple(info["spacing"]) == (0.5, 2.0, 3.0)
    # file index (0, 0, 0) = voxel (C-1, H-1, 0) at world (oW, -(oH + 2 sH), -(oC + 4 sC))
    assert tuple(info["origin"]) == (30.0, -24.0, -22.0)
    assert info["meta"] == META
    back = read_volume(written[0])
    np.testing.assert_array_equal(back.data, vol)
    assert back.spacing == SPACING
    assert back.origin == ORIGIN
    assert back.metadata == META


def test_mhd_writes_header_and_raw(tmp_path, volume):
    written = write_volume(tmp_path / "v.mhd", volume)
    assert [p.name for p in written] == ["v.mhd", "v.raw"]
    assert "ElementDataFile = v.raw" in written[0].read_text()
    assert written[1].read_bytes() == volume[::-1, ::-1, :].tobytes()  # file order


def test_vti_pixel_lands_at_column_row_channel(tmp_path):
    vol = np.zeros((5, 3, 7), dtype=np.float32)
    vol[4, 1, 6] = 1.0  # channel 4, row 1, column 6
    (path,) = write_volume(tmp_path / "one.vti", vol)
    reader = vtkXMLImageDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    flat = int(np.argmax(vtk_to_numpy(image.GetPointData().GetScalars())))
    assert image.GetPoint(flat) == (6.0, -1.0, -4.0)  # x = column, y = -row, z = -channel


def test_npy_round_trip_including_float16(tmp_path, volume, layer4d):
    for arr in (volume, volume.astype(np.float16), layer4d):
        (path,) = write_volume(tmp_path / "v.npy", arr, overwrite=True)
        loaded = np.load(path)
        assert loaded.dtype == arr.dtype
        np.testing.assert_array_equal(loaded, arr)


@pytest.mark.parametrize("name", ["l.nrrd", "l.nii.gz"])
def test_layer_over_images_4d(tmp_path, layer4d, name):
    (path,) = write_volume(tmp_path / name, layer4d, spacing=SPACING, metadata=META)
    if name.endswith(".nrrd"):
        data, header = nrrd.read(str(path))
        assert list(header["sizes"]) == [7, 3, 5, 2]
        assert header["kinds"] == ["domain", "domain", "domain", "list"]
        assert np.isnan(header["space directions"][3]).all()
    else:
        data = np.asanyarray(nib.load(str(path)).dataobj)
        assert data.shape == (7, 3, 5, 2)
    np.testing.assert_array_equal(data.T, layer4d[:, ::-1, ::-1, :])  # file order, per image
    np.testing.assert_array_equal(read_volume(path).data, layer4d)


@pytest.mark.parametrize("name", ["l.vti", "l.mhd"])
def test_4d_refused_where_format_has_no_fourth_axis(tmp_path, layer4d, name):
    with pytest.raises(ExportError, match=r"volume must be a 3-D array \(C, H, W\), got shape"):
        write_volume(tmp_path / name, layer4d)
    assert list(tmp_path.iterdir()) == []


def test_nifti_header_codes_and_descrip(tmp_path, volume):
    (path,) = write_volume(
        tmp_path / "v.nii.gz", volume, metadata={"layer": "conv1"}, name="features.3"
    )
    img = nib.load(str(path))
    assert img.header.get_intent()[2] == "features.3"
    assert int(img.header["sform_code"]) == 1
    assert int(img.header["qform_code"]) == 1
    assert img.header["descrip"].item().startswith(b"volviz")
    # index axes point to L, P, S: the identity direction in ITK's LPS, as nrrd and mhd
    assert nib.aff2axcodes(img.affine) == ("L", "P", "S")


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        ("a.vti", None, "vti"),
        ("a.NRRD", None, "nrrd"),
        ("a.nii.gz", None, "nifti"),
        ("a.nii", None, "nifti"),
        ("a.mhd", None, "mhd"),
        ("a.npy", None, "npy"),
        ("a.binvox", None, "binvox"),
        ("a.vox", "legacy-vox", "legacy-vox"),
        ("a.vox", "magicavoxel", "magicavoxel"),
    ],
)
def test_format_from_path(name, fmt, expected):
    assert exporters.format_from_path(name, fmt) == expected


@pytest.mark.parametrize(
    ("name", "fmt", "match"),
    [
        ("a.vox", None, r"\.vox is ambiguous; pass fmt="),
        ("a.tiff", None, r"path='a.tiff' has an unknown suffix"),
        ("a.vti", "hdf", r"fmt='hdf' is not a known format"),
        ("a.vti", "nrrd", r"does not end in \.nrrd for fmt='nrrd'"),
    ],
)
def test_format_errors(name, fmt, match):
    with pytest.raises(ExportError, match=match):
        exporters.format_from_path(name, fmt)


def test_options_only_for_quantized_formats(tmp_path, volume):
    with pytest.raises(ExportError, match=r"fmt='vti' takes no option 'threshold'"):
        write_volume(tmp_path / "v.vti", volume, threshold=0.5)
    with pytest.raises(ExportError, match=r"fmt='binvox' takes no option 'cmap'"):
        write_volume(tmp_path / "v.binvox", volume, cmap="gray")
    assert list(tmp_path.iterdir()) == []


def test_read_volume_refuses_quantized(tmp_path):
    with pytest.raises(ExportError, match="reads exact formats only"):
        read_volume(tmp_path / "a.binvox")


def test_dtype_matches_writer_text(tmp_path, volume):
    (path,) = write_volume(tmp_path / "v.nrrd", volume.astype(np.float64))
    assert re.search(rb"^type: double$", path.read_bytes()[:400], re.M)
