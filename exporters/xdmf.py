"""XDMF 2 sidecar: lets ParaView/VisIt open volumes inside an HDF5 file in place (no copy).

Every reader ParaView offers (Xdmf3ReaderS, its default, Xdmf3ReaderT and the legacy
XDMFReader) reads plain 3-D DataItems, but the Xdmf3 readers skip ``HyperSlab`` items. So
beside ``NAME.xdmf`` a small ``NAME.xdmf.h5`` holds one HDF5 *virtual* dataset per volume
(per image of an (N, C, H, W) dataset): a (C, H, W) view of the store's data, no data copied,
its source named relative to the views file. Each dataset becomes one top-level Grid; an
(N, C, H, W) dataset is a temporal collection with one uniform grid per image (``Time`` =
image index, ParaView's time slider). Topology ``3DCoRectMesh``, geometry ``ORIGIN_DXDYDZ``,
both slowest axis first (C, H, W), which VTK reads as x = column, y = row, z = channel. The
geometry follows :mod:`exporters.frame`'s world frame through the sign of the steps: voxel
(channel, row, column) at ``(oW + col sW, -(oH + row sH), -(oC + channel sC))``, the same
point as in the voxel files. Values are point data.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from exporters._atomic import atomic_outputs, check_destination, write_error
from exporters._errors import ExportError
from exporters._validate import check_triple

__all__ = ["VIEWS_SUFFIX", "write_xdmf"]

#: Appended to the sidecar's name for the file of virtual datasets.
VIEWS_SUFFIX = ".h5"

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


class _Entry:
    """One validated ``datasets`` entry."""

    def __init__(
        self, path: str, shape: tuple[int, ...], dtype: str, name: str, spacing: Any
    ) -> None:
        self.path, self.shape, self.dtype, self.name = path, shape, dtype, name
        self.spacing = spacing


def _check_entry(i: int, entry: Any, spacing: tuple[float, float, float]) -> _Entry:
    items = list(entry) if isinstance(entry, Sequence) and not isinstance(entry, str) else []
    if len(items) not in (4, 5):
        msg = (
            f"datasets[{i}] must be (h5 dataset path, shape, dtype, name[, spacing]), got {entry!r}"
        )
        raise ExportError(msg)
    h5_dataset, shape, dtype, name, *own = items
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
    if own:
        spacing = check_triple(own[0], param=f"datasets[{i}] spacing", positive=True)
    return _Entry(h5_dataset, dims, dt, name, spacing)


def _uniform_grid(
    parent: ET.Element,
    grid_name: str,
    dims: tuple[int, int, int],
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
) -> ET.Element:
    """A 3DCoRectMesh grid in the world frame: rows to -y and channels to -z (negative steps)."""
    grid = ET.SubElement(parent, "Grid", Name=grid_name, GridType="Uniform")
    ET.SubElement(grid, "Topology", TopologyType="3DCoRectMesh", Dimensions=_dims(dims))
    geometry = ET.SubElement(grid, "Geometry", GeometryType="ORIGIN_DXDYDZ")
    (oc, oh, ow), (sc, sh, sw) = origin, spacing
    for triple in ((-oc, -oh, ow), (-sc, -sh, sw)):
        item = ET.SubElement(
            geometry, "DataItem", Dimensions="3", NumberType="Float", Precision="8", Format="XML"
        )
        item.text = " ".join(repr(float(v) + 0.0) for v in triple)  # + 0.0: no "-0.0"
    return grid


def _attribute(grid: ET.Element, name: str, ref: str, entry: _Entry) -> None:
    attr = ET.SubElement(grid, "Attribute", Name=name, AttributeType="Scalar", Center="Node")
    number_type, precision = _NUMBER_TYPES[entry.dtype]
    item = ET.SubElement(
        attr,
        "DataItem",
        Dimensions=_dims(entry.shape[-3:]),
        NumberType=number_type,
        Precision=str(precision),
        Format="HDF",
    )
    item.text = ref


def _relative(target: Path, folder: Path) -> str:
    try:
        return os.path.relpath(target, folder)
    except ValueError:  # another drive on Windows
        return str(target)


def _write_views(path: Path, source: str, entries: list[_Entry]) -> list[list[str]]:
    """One virtual (C, H, W) dataset per volume; returns their HDF5 paths per entry."""
    names: list[list[str]] = []
    with h5py.File(path, "w") as f:
        for k, entry in enumerate(entries):
            group = f.create_group(f"{k}")
            group.attrs["name"] = entry.name
            group.attrs["source"] = entry.path
            images = [None] if len(entry.shape) == 3 else list(range(entry.shape[0]))
            paths = []
            for n in images:
                layout = h5py.VirtualLayout(shape=entry.shape[-3:], dtype=entry.dtype)
                src = h5py.VirtualSource(source, entry.path, shape=entry.shape)
                layout[...] = src if n is None else src[n]
                key = "volume" if n is None else f"{n}"
                group.create_virtual_dataset(key, layout)
                paths.append(f"/{k}/{key}")
            names.append(paths)
    return names


def write_xdmf(
    xdmf_path: str | os.PathLike[str],
    h5_path: str | os.PathLike[str],
    datasets: Sequence[tuple[Any, ...]],
    *,
    spacing: Any = (1.0, 1.0, 1.0),
    origin: Any = (0.0, 0.0, 0.0),
    overwrite: bool = False,
) -> list[Path]:
    """Write an XDMF sidecar (and its file of virtual datasets) for volumes in an HDF5 file.

    Parameters
    ----------
    xdmf_path : str or path-like
        Output ``.xdmf`` file; the views go to the same name + ``.h5``.
    h5_path : str or path-like
        The HDF5 file (need not exist yet; it is not opened).
    datasets : sequence of (str, shape, dtype, str[, spacing])
        ``(h5 dataset path, shape, dtype, name)``; shape (N, C, H, W) or (C, H, W).
        ``name`` names the grid and its attribute. An optional fifth item is the entry's own
        spacing in (C, H, W) order.
    spacing, origin : sequence of 3 float
        In (C, H, W) order, shared by all datasets (unless an entry brings its spacing).
    overwrite : bool
        Replace existing files.

    Returns
    -------
    list of Path
        ``[sidecar, views file]``.
    """
    if isinstance(datasets, (str, bytes)) or not isinstance(datasets, Sequence) or not datasets:
        msg = f"datasets must be a non-empty list of (path, shape, dtype, name), got {datasets!r}"
        raise ExportError(msg)
    spc = check_triple(spacing, param="spacing", positive=True)
    org = check_triple(origin, param="origin", positive=False)
    entries = [_check_entry(i, e, spc) for i, e in enumerate(datasets)]
    dest = check_destination(xdmf_path, param="xdmf_path", overwrite=overwrite)
    views = check_destination(
        dest.with_name(dest.name + VIEWS_SUFFIX), param="xdmf_path", overwrite=overwrite
    )
    h5 = Path(h5_path).expanduser().absolute()
    if views == h5:
        msg = f"would put its views file on the HDF5 file {str(h5)!r}; choose another name"
        raise ExportError(msg, param="xdmf_path", value=xdmf_path)
    try:
        with atomic_outputs([dest, views]) as (tmp, tmp_views):
            paths = _write_views(tmp_views, _relative(h5, dest.parent), entries)
            tmp.write_text(_sidecar(views.name, entries, paths, org), encoding="utf-8")
    except OSError as exc:
        raise write_error(exc, dest, param="xdmf_path") from exc
    return [dest, views]


def _sidecar(
    views: str, entries: list[_Entry], paths: list[list[str]], origin: tuple[float, float, float]
) -> str:
    root = ET.Element("Xdmf", Version="2.0")
    domain = ET.SubElement(root, "Domain")
    for entry, refs in zip(entries, paths, strict=True):
        vol_dims = (entry.shape[-3], entry.shape[-2], entry.shape[-1])
        if len(entry.shape) == 3:
            grid = _uniform_grid(domain, entry.name, vol_dims, entry.spacing, origin)
            _attribute(grid, entry.name, f"{views}:{refs[0]}", entry)
            continue
        series = ET.SubElement(
            domain, "Grid", Name=entry.name, GridType="Collection", CollectionType="Temporal"
        )
        for n, ref in enumerate(refs):
            grid = _uniform_grid(series, f"{entry.name}[{n}]", vol_dims, entry.spacing, origin)
            ET.SubElement(grid, "Time", Value=str(n))
            _attribute(grid, entry.name, f"{views}:{ref}", entry)
    ET.indent(root)
    return '<?xml version="1.0" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"
