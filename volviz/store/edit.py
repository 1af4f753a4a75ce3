"""Add results (orderings, gradients, attributions) to an existing store, all or nothing.

A new group is filled under a hidden temporary name and then renamed into place, so an
interrupted write never leaves a half-filled group under the real name; readers skip names
starting with ``.tmp-``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import h5py

from volviz.errors import StoreError, literal
from volviz.store.reader import Store
from volviz.store.schema import TMP_PREFIX, stamp


@contextmanager
def open_for_update(path: str | os.PathLike[str]) -> Iterator[h5py.File]:
    """Open a store read-write after checking it is one this volviz can read."""
    Store(path).close()  # raises on foreign files and newer versions
    try:
        handle = h5py.File(path, "r+")
    except OSError as exc:
        msg = f"FILE {str(path)!r} cannot be opened for writing ({exc})"
        raise StoreError(msg) from exc
    try:
        yield handle
    finally:
        handle.close()


def replace_group(
    parent: h5py.Group,
    name: str,
    encoding: str,
    fill: Callable[[h5py.Group], None],
    *,
    force: bool = False,
) -> h5py.Group:
    """Create ``parent/name`` stamped with ``encoding``, filled by ``fill(group)``.

    An existing group of that name is replaced only with ``force``. On any error the
    temporary group is deleted and the existing one is left untouched.
    """
    if name in parent and not force:
        where = f"{parent.name}/{name} exists in {parent.file.filename}"
        msg = literal(where) + "; pass {force} to replace it"
        raise StoreError(msg, refs={"force": True})
    tmp = f"{TMP_PREFIX}{name}"
    if tmp in parent:
        del parent[tmp]
    group = parent.create_group(tmp)
    try:
        stamp(group, encoding)
        fill(group)
    except BaseException:
        del parent[tmp]
        raise
    if name in parent:
        del parent[name]
    parent.move(tmp, name)
    return parent[name]
