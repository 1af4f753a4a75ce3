"""The HDF5 store: versioned, self-describing activation volumes (see docs/format.md)."""

from __future__ import annotations

from volviz.store.reader import Store, open_store
from volviz.store.validate import validate
from volviz.store.writer import StoreWriter

__all__ = ["Store", "StoreWriter", "open_store", "validate"]
