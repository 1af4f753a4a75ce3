"""XDMF 2 sidecar: lets ParaView/VisIt open volumes inside an HDF5 file in place (no copy).

Each dataset becomes one top-level Grid. An (N, C, H, W) dataset is a temporal collection
with one uniform grid per image (``Time`` = image index, so ParaView's time slider steps
through images); each grid's attribute is a ``HyperSlab`` (start n 0 0 0, stride 1, count
1 C H W) whose outer Dimensions are the 3-D ``C H W``. A (C, H, W) dataset is one uniform
grid. Topology is ``3DCoRectMesh`` and geometry ``ORIGIN_DXDYDZ``, both listed slowest axis
first (C, H, W), which VTK reads as x = column, y = row, z = channel. Values are point data.
The HDF5 file is referenced relative to the sidecar's folder when possible.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from exporters._atomic import atomic_outputs, check_destination, write_error
from exporters._errors import ExportError
from exporters._validate import check_triple

__all__ = ["write_xdmf"]

_NUMBER_TYPES = {
    "float32": ("Float", 4),
    "float64": ("Float", 8),
    "int8": ("Char", 1),
    "uint8": ("UChar", 1),
    "int16": ("Short", 2),
    "uint16": ("UShort", 2),
    "int32": ("Int", 4),
    "uint32": ("UInt", 4),
    "int64": ("Int", 8),
}


def _dims(shape: Sequence[int]) -> str:
    return " ".join(str(int(s)) for s in shape)


def _check_entry(i: int, entry: Any) -> tuple[str, tuple[int, ...], str, str]:
    try:
        h5_dataset, shape, dtype, name = entry
    except (TypeError, ValueError):
        msg = f"datasets[{i}] must be (h5 dataset path, shape, dtype, name), got {entry!r}"
        raise ExportError(msg) from None
    if not isinstance(h5_dataset, str) or not h5_dataset.startswith("/"):
        msg = f"datasets[{i}] dataset path must be an absolute HDF5 path, got {h5_dataset!r}"
        raise ExportError(msg)
    try:
        dims = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        dims = ()
    if len(dims) not in (3, 4) or min(dims) < 1:
        msg = f"datasets[{i}] shape must be (C, H, W) or (N, C, H, W), got {shape!r}"
        raise ExportError(msg)
    try:
        dt = np.dtype(dtype).newbyteorder("=").name
    except TypeError:
        dt = str(dtype)
    if dt not in _NUMBER_TYPES:
        msg = f"datasets[{i}] dtype {dtype!r} cannot be described in XDMF; use float32/64 or ints"
        raise ExportError(msg)
    if not isinstance(name, str) or not name:
        msg = f"datasets[{i}] name must be a non-empty str, got {name!r}"
        raise ExportError(msg)
    return h5_dataset, dims, dt, name


def _uniform_grid(
    parent: ET.Element,
    grid_name: str,
    dims: tuple[int, int, int],
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
) -> ET.Element:
    grid = ET.SubElement(parent, "Grid", Name=grid_name, GridType="Uniform")
    ET.SubElement(grid, "Topology", TopologyType="3DCoRectMesh", Dimensions=_dims(dims))
    geometry = ET.SubElement(grid, "Geometry", GeometryType="ORIGIN_DXDYDZ")
    for triple in (origin, spacing):
        item = ET.SubElement(
            geometry, "DataItem", Dimensions="3", NumberType="Float", Precision="8", Format="XML"
        )
        item.text = " ".join(repr(float(v)) for v in triple)
    return grid


def _hdf_item(parent: ET.Element, ref: str, shape: tuple[int, ...], dtype: str) -> None:
    number_type, precision = _NUMBER_TYPES[dtype]
    item = ET.SubElement(
        parent,
        "DataItem",
        Dimensions=_dims(shape),
        NumberType=number_type,
        Precision=str(precision),
        Format="HDF",
    )
    item.text = ref


def write_xdmf(
    xdmf_path: str | os.PathLike[str],
    h5_path: str | os.PathLike[str],
    datasets: Sequence[tuple[str, Sequence[int], Any, str]],
    *,
    spacing: Any = (1.0, 1.0, 1.0),
    origin: Any = (0.0, 0.0, 0.0),
    overwrite: bool = False,
) -> Path:
    """Write an XDMF sidecar describing volumes stored in an HDF5 file.

    Parameters
    ----------
    xdmf_path : str or path-like
        Output ``.xdmf`` file.
    h5_path : str or path-like
        The HDF5 file (need not exist yet; it is not opened).
    datasets : sequence of (str, shape, dtype, str)
        ``(h5 dataset path, shape, dtype, name)``; shape (N, C, H, W) or (C, H, W).
        ``name`` names the grid and its attribute.
    spacing, origin : sequence of 3 float
        In (C, H, W) order, shared by all datasets.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        The sidecar written.
    """
    if isinstance(datasets, (str, bytes)) or not isinstance(datasets, Sequence) or not datasets:
        msg = f"datasets must be a non-empty list of (path, shape, dtype, name), got {datasets!r}"
        raise ExportError(msg)
    entries = [_check_entry(i, e) for i, e in enumerate(datasets)]
    spc = check_triple(spacing, param="spacing", positive=True)
    org = check_triple(origin, param="origin", positive=False)
    dest = check_destination(xdmf_path, param="xdmf_path", overwrite=overwrite)
    h5 = Path(h5_path).expanduser().absolute()
    try:
        h5_ref = os.path.relpath(h5, dest.parent)
    except ValueError:  # another drive on Windows
        h5_ref = str(h5)
    root = ET.Element("Xdmf", Version="2.0")
    domain = ET.SubElement(root, "Domain")
    for h5_dataset, shape, dtype, name in entries:
        ref = f"{h5_ref}:{h5_dataset}"
        vol_dims = (shape[-3], shape[-2], shape[-1])
        if len(shape) == 3:
            grid = _uniform_grid(domain, name, vol_dims, spc, org)
            attr = ET.SubElement(
                grid, "Attribute", Name=name, AttributeType="Scalar", Center="Node"
            )
            _hdf_item(attr, ref, shape, dtype)
            continue
        series = ET.SubElement(
            domain, "Grid", Name=name, GridType="Collection", CollectionType="Temporal"
        )
        for n in range(shape[0]):
            grid = _uniform_grid(series, f"{name}[{n}]", vol_dims, spc, org)
            ET.SubElement(grid, "Time", Value=str(n))
            attr = ET.SubElement(
                grid, "Attribute", Name=name, AttributeType="Scalar", Center="Node"
            )
            slab = ET.SubElement(
                attr,
                "DataItem",
                ItemType="HyperSlab",
                Dimensions=_dims(vol_dims),
                Type="HyperSlab",
            )
            select = ET.SubElement(
                slab, "DataItem", Dimensions="3 4", NumberType="Int", Format="XML"
            )
            select.text = f"{n} 0 0 0  1 1 1 1  1 {_dims(vol_dims)}"
            _hdf_item(slab, ref, shape, dtype)
    ET.indent(root)
    text = '<?xml version="1.0" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    try:
        with atomic_outputs([dest]) as (tmp,):
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise write_error(exc, dest, param="xdmf_path") from exc
    return dest
