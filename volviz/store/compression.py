"""Compression and checksums of activation datasets.

Every activation dataset a store gets from this volviz carries HDF5's Fletcher32 filter: a
checksum per chunk that HDF5 verifies on every read, so a damaged chunk raises an error
instead of returning wrong numbers. Compression is optional: ``gzip`` (readable by any HDF5,
ParaView included, but 65-80 MB/s) or Blosc2 through the ``hdf5plugin`` package (LZ4 or
Zstd after a byte shuffle or bit shuffle, several hundred MB/s). The codec's name is
recorded in the dataset's ``compression`` attribute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from volviz.errors import StoreError

if TYPE_CHECKING:  # h5py is imported where used: the CLI imports this module
    import h5py

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
        msg = f"is not one of none, {', '.join(CODECS)}"
        raise StoreError(msg, param="compress", value=compress)
    return str(compress)


def dataset_filters(codec: str | None) -> dict[str, Any]:
    """``create_dataset`` keywords for ``codec`` (None: none), Fletcher32 always on."""
    filters: dict[str, Any] = {"fletcher32": True}
    if codec == GZIP:
        filters.update(compression="gzip", compression_opts=4, shuffle=True)
    elif codec is not None:
        hdf5plugin = _hdf5plugin(codec)
        cname, shuffle, level = BLOSC2[codec]
        blosc2 = hdf5plugin.Blosc2
        kind = blosc2.BITSHUFFLE if shuffle == "bitshuffle" else blosc2.SHUFFLE
        filters.update(blosc2(cname=cname, clevel=level, filters=kind))
    return filters


def _hdf5plugin(codec: str, reading: str | None = None) -> Any:
    """hdf5plugin, or an error: ``compress=codec needs ...`` (``reading``: the file read)."""
    try:
        import hdf5plugin
    except ImportError:
        if reading is None:
            raise StoreError(f"needs {PLUGIN_HINT}", param="compress", value=codec) from None
        msg = f"FILE {reading!r} is compressed with {codec}; reading it needs {PLUGIN_HINT}"
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
            _hdf5plugin(codec, reading=str(file.filename))
            return
