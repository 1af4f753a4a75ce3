"""Compression and checksums of activation datasets.

Every activation dataset a store gets from this volviz carries HDF5's Fletcher32 filter: a
checksum per chunk that HDF5 verifies on every read, so a damaged chunk raises an error
instead of returning wrong numbers. Compression is optional: ``gzip`` (readable by any HDF5,
ParaView included, but 65-80 MB/s) or Blosc2 through the ``hdf5plugin`` package (LZ4 or
Zstd after a byte shuffle or bit shuffle, several hundred MB/s). The codec's name is
recorded in the dataset's ``compression`` attribute.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from volviz.errors import StoreError

if TYPE_CHECKING:  # numpy and h5py are imported where used: the CLI imports CODECS
    import h5py
    import numpy as np

GZIP = "gzip"
# name -> (Blosc2 codec, shuffle kind, level); chosen by scripts/bench.py compression.
BLOSC2 = {
    "blosc2-lz4": ("lz4", "shuffle", 5),
    "blosc2-lz4-bitshuffle": ("lz4", "bitshuffle", 5),
    "blosc2-zstd": ("zstd", "shuffle", 1),
    "blosc2-zstd-bitshuffle": ("zstd", "bitshuffle", 1),
}
CODECS = (GZIP, *BLOSC2)
BLOSC2_FILTER_ID = 32026
PLUGIN_HINT = "the hdf5plugin package (pip install 'volviz[compress]')"


def codec_name(compress: bool | str | None) -> str | None:
    """The codec for a ``compress`` option: False/None/"none" -> None, True -> gzip."""
    if compress is None or compress is False or compress == "none":
        return None
    if compress is True:
        return GZIP
    if compress not in CODECS:
        msg = f"--compress {compress!r} is not one of none, {', '.join(CODECS)}"
        raise StoreError(msg)
    return str(compress)


def dataset_filters(codec: str | None) -> dict[str, Any]:
    """``create_dataset`` keywords for ``codec`` (None: none), Fletcher32 always on."""
    filters: dict[str, Any] = {"fletcher32": True}
    if codec == GZIP:
        filters.update(compression="gzip", compression_opts=4, shuffle=True)
    elif codec is not None:
        hdf5plugin = _hdf5plugin(f"--compress {codec}")
        cname, shuffle, level = BLOSC2[codec]
        blosc2 = hdf5plugin.Blosc2
        kind = blosc2.BITSHUFFLE if shuffle == "bitshuffle" else blosc2.SHUFFLE
        filters.update(blosc2(cname=cname, clevel=level, filters=kind))
    return filters


def _hdf5plugin(what: str) -> Any:
    try:
        import hdf5plugin
    except ImportError:
        msg = f"{what} needs {PLUGIN_HINT}"
        raise StoreError(msg) from None
    return hdf5plugin


def require_filters(file: h5py.File) -> None:
    """Register hdf5plugin's filters when ``file`` needs them; name the package if missing."""
    import h5py

    if h5py.h5z.filter_avail(BLOSC2_FILTER_ID):
        return
    for key in file.get("layers", {}):
        ds = file["layers"][key].get("activations")
        if isinstance(ds, h5py.Dataset) and str(ds.attrs.get("compression", "")) in BLOSC2:
            codec = str(ds.attrs["compression"])
            _hdf5plugin(f"FILE {file.filename!r} is compressed with {codec}; reading it")
            return


@lru_cache(maxsize=8)
def _weights(n: int) -> np.ndarray:
    import numpy as np

    return np.arange(n, 0, -1, dtype=np.int64)


def fletcher32(chunk: np.ndarray) -> bytes:
    """HDF5's Fletcher32 checksum of a chunk's bytes, as HDF5 appends it (4 bytes).

    Needed for chunks written with ``write_direct_chunk``, which bypasses the filters. HDF5
    sums the bytes as big-endian 16-bit words (``sum1``) and the running sums (``sum2``),
    folding both to 16 bits so that a nonzero sum never becomes 0.
    """
    import numpy as np

    data = np.ascontiguousarray(chunk).view(np.uint8).reshape(-1)
    if len(data) % 2:
        data = np.concatenate([data, np.zeros(1, np.uint8)])
    words = data.view(">u2").astype(np.int64)
    s1, s2 = int(words.sum()), int(np.dot(words, _weights(len(words))))
    fold = [0 if s == 0 else (s - 1) % 65535 + 1 for s in (s1, s2)]
    return ((fold[1] << 16) | fold[0]).to_bytes(4, "little")
