"""VTK XML ImageData (.vti) and MetaImage (.mhd + .raw), written and read by VTK itself."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from vtkmodules.util.vtkConstants import VTK_STRING
from vtkmodules.vtkCommonCore import vtkCommand, vtkObject
from vtkmodules.vtkIOImage import vtkMetaImageReader, vtkMetaImageWriter
from vtkmodules.vtkIOXML import vtkXMLImageDataReader, vtkXMLImageDataWriter

from exporters._errors import ExportError
from exporters._vtk import from_image_data, to_image_data

# MetaIO header keys (ITK/VTK): user metadata must not shadow them.
_MHD_RESERVED = frozenset(
    k.lower()
    for k in [
        "Comment",
        "ObjectType",
        "ObjectSubType",
        "TransformType",
        "NDims",
        "Name",
        "ID",
        "ParentID",
        "CompressedData",
        "CompressedDataSize",
        "BinaryData",
        "BinaryDataByteOrderMSB",
        "ElementByteOrderMSB",
        "Color",
        "Position",
        "Offset",
        "Origin",
        "Orientation",
        "Rotation",
        "TransformMatrix",
        "CenterOfRotation",
        "AnatomicalOrientation",
        "ElementSpacing",
        "DimSize",
        "HeaderSize",
        "HeaderSizesPerSlice",
        "Modality",
        "SequenceID",
        "ElementMin",
        "ElementMax",
        "ElementNumberOfChannels",
        "ElementSize",
        "ElementType",
        "ElementDataFile",
    ]
)


class _ErrorCatcher:
    """Collect VTK error events from one algorithm instead of printing them."""

    # VTK passes the message as call data only when the observer declares its type.
    CallDataType = VTK_STRING

    def __init__(self, algorithm: vtkObject) -> None:
        self.messages: list[str] = []
        algorithm.AddObserver(vtkCommand.ErrorEvent, self)
        algorithm.AddObserver(vtkCommand.WarningEvent, self)

    def __call__(self, _obj: object, _event: str, data: object = None) -> None:
        self.messages.append(str(data) if data is not None else "unknown VTK error")

    def raise_if_any(self, path: Path) -> None:
        if self.messages:
            first = self.messages[0].strip().splitlines()[-1]
            raise ExportError(f"could not be written by VTK: {first}", param="path", value=path)


def write_vti(
    path: Path,
    volume: np.ndarray,
    *,
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
    metadata: dict[str, str],
    name: str,
) -> None:
    """Write ``volume`` (C, H, W) as VTK XML ImageData, raw appended binary, no compression."""
    image = to_image_data(volume, spacing=spacing, origin=origin, name=name, metadata=metadata)
    writer = vtkXMLImageDataWriter()
    errors = _ErrorCatcher(writer)
    writer.SetFileName(str(path))
    writer.SetInputData(image)
    writer.SetDataModeToAppended()
    writer.EncodeAppendedDataOff()
    writer.SetCompressorTypeToNone()
    writer.SetHeaderTypeToUInt64()
    ok = writer.Write()
    errors.raise_if_any(path)
    if ok != 1:
        msg = "could not be written by vtkXMLImageDataWriter"
        raise ExportError(msg, param="path", value=path)


def read_vti(path: Path) -> tuple[np.ndarray, dict[str, object]]:
    """Read a .vti written by :func:`write_vti` as (C, H, W) plus spacing/origin/metadata."""
    reader = vtkXMLImageDataReader()
    errors = _ErrorCatcher(reader)
    reader.SetFileName(str(path))
    reader.Update()
    if errors.messages:
        msg = f"path={str(path)!r} is not a readable .vti file: {errors.messages[0].strip()}"
        raise ExportError(msg)
    return from_image_data(reader.GetOutput())


def write_mhd(
    paths: tuple[Path, Path],
    volume: np.ndarray,
    *,
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
    metadata: dict[str, str],
    name: str,
) -> None:
    """Write MetaImage header + uncompressed raw; metadata goes in as extra ``key = value`` lines.

    MetaImage has no array name (ParaView calls it ``MetaImage``); ``name`` is ignored.

    MetaIO ends the header at ``ElementDataFile``, so the extra lines are inserted before it;
    ITK keeps unknown keys in its metadata dictionary and VTK skips them.
    """
    clash = sorted(k for k in metadata if k.lower() in _MHD_RESERVED)
    if clash:
        msg = f"metadata key {clash[0]!r} collides with a MetaImage header field"
        raise ExportError(msg)
    mhd_path, raw_path = paths
    del name
    image = to_image_data(volume, spacing=spacing, origin=origin)
    writer = vtkMetaImageWriter()
    errors = _ErrorCatcher(writer)
    writer.SetFileName(str(mhd_path))
    writer.SetRAWFileName(str(raw_path))
    writer.SetCompression(False)
    writer.SetInputData(image)
    writer.Write()
    errors.raise_if_any(mhd_path)
    if not raw_path.is_file() or raw_path.stat().st_size != volume.nbytes:
        msg = ": vtkMetaImageWriter wrote an incomplete raw file"
        raise ExportError(msg, param="path", value=mhd_path)
    if metadata:
        header = mhd_path.read_text(encoding="ascii")
        extra = "".join(f"{k} = {v}\n" for k, v in metadata.items())
        header = re.sub(r"^ElementDataFile", lambda m: extra + m.group(0), header, flags=re.M)
        mhd_path.write_text(header, encoding="utf-8")


def read_mhd(path: Path) -> tuple[np.ndarray, dict[str, object]]:
    """Read a MetaImage .mhd (+ its data file) as (C, H, W) plus spacing/origin/metadata."""
    reader = vtkMetaImageReader()
    errors = _ErrorCatcher(reader)
    reader.SetFileName(str(path))
    reader.Update()
    if errors.messages:
        msg = f"path={str(path)!r} is not a readable MetaImage file: {errors.messages[0].strip()}"
        raise ExportError(msg)
    volume, info = from_image_data(reader.GetOutput())
    metadata: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        key = key.strip()
        if sep and key.lower() not in _MHD_RESERVED:
            metadata[key] = value.strip()
    info["metadata"] = metadata
    return volume, info
