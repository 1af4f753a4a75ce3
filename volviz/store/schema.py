"""The store's encodings: names, versions and the checks every read goes through.

docs/format.md is the normative description; this module is its executable half.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import h5py
import numpy as np

from volviz.errors import NewerFormatError, StoreError

ENCODING = "volviz-encoding"
VERSION = "volviz-encoding-version"

# encoding name -> version this volviz writes. Reads accept the same major version.
ENCODINGS = {
    "volviz-store": "1.0",
    "inputs": "1.0",
    "predictions": "1.0",
    "layers": "1.0",
    "layer": "1.0",
    "activations": "1.0",
    # weight gradients, class comparisons and 2-D attributions (volviz/store/results.py)
    "gradients": "1.0",
    "gradient-run": "1.0",
    "weight-gradient": "1.0",
    "gradient-per-image": "1.0",
    "gradient-aggregate": "1.0",
    "class-index": "1.0",
    "comparisons": "1.0",
    "comparison": "1.0",
    "comparison-layer": "1.0",
    "attributions": "1.0",
    "attribution": "1.1",  # 1.1: occlusion base_score (was base_prob)
    "attribution-array": "1.0",
    "ordering": "1.0",
    # streaming aggregates over many images (volviz/store/aggregates.py)
    "aggregates": "1.0",
    "class-stats": "1.0",
    "top-k": "1.0",
    "analysis": "1.0",
    "layer-stats": "1.0",
    # CKA between layers, stores and training steps (volviz/analysis/similarity.py)
    "similarity": "1.0",
    "similarity-result": "1.0",
    "importance-runs": "1.0",
    "importance": "1.0",
    "timeline": "1.0",
    "timeline-activations": "1.0",
    "timeline-weight": "1.0",
}
ACTIVATION_AXES = ["sample", "channel", "y", "x"]
TOP_K = 5


TMP_PREFIX = ".tmp-"
"""Prefix of a group still being written (see :mod:`volviz.store.edit`); readers skip it."""


def members(group: h5py.Group | None) -> list[str]:
    """Names in ``group`` (``None``: no group, no names), without groups still being written."""
    return [] if group is None else [k for k in group if not k.startswith(TMP_PREFIX)]


def stamp(obj: h5py.Group | h5py.Dataset, encoding: str) -> None:
    """Mark a group or dataset with its encoding name and the version this volviz writes."""
    obj.attrs[ENCODING] = encoding
    obj.attrs[VERSION] = ENCODINGS[encoding]


def check(obj: h5py.Group | h5py.Dataset, encoding: str) -> str:
    """Raise unless ``obj`` carries ``encoding`` at a version this volviz reads; return it."""
    where = f"{obj.file.filename}:{obj.name}"
    found = _text(obj.attrs.get(ENCODING))
    if found is None:
        msg = f"{where} has no {ENCODING} attribute: not written by volviz"
        raise StoreError(msg)
    if found != encoding:
        msg = f"{where} has {ENCODING}={found!r}, expected {encoding!r}"
        raise StoreError(msg)
    version = _text(obj.attrs.get(VERSION)) or ""
    major = version.split(".")[0]
    if not major.isdigit():
        msg = f"{where} has {VERSION}={version!r}, not MAJOR.MINOR"
        raise StoreError(msg)
    if int(major) > int(ENCODINGS[encoding].split(".")[0]):
        msg = (
            f"{where} is {encoding} version {version}, written by a newer volviz "
            f"(this one reads {ENCODINGS[encoding].split('.')[0]}.x); upgrade volviz"
        )
        raise NewerFormatError(msg)
    return version


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def read_attrs(obj: h5py.Group | h5py.Dataset) -> dict[str, Any]:
    """Attributes as Python values: JSON text decoded, the encoding stamps left out."""
    out: dict[str, Any] = {}
    for key, value in obj.attrs.items():
        if key in (ENCODING, VERSION):
            continue
        text = value.decode() if isinstance(value, bytes) else value
        if isinstance(text, str) and text[:1] in "[{":
            with contextlib.suppress(json.JSONDecodeError):
                text = json.loads(text)
        out[key] = text.item() if isinstance(text, np.generic) else text
    return out
