"""Write-then-rename: outputs appear complete or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from exporters._errors import ExportError


def check_destination(path: str | os.PathLike[str], *, param: str, overwrite: bool) -> Path:
    """Validate one output path before anything is written.

    Parameters
    ----------
    path : str or path-like
        Destination file.
    param : str
        Parameter name used in error messages.
    overwrite : bool
        Whether an existing file may be replaced.

    Returns
    -------
    Path
        The destination as an absolute :class:`~pathlib.Path`.
    """
    dest = Path(path).expanduser().absolute()
    parent = dest.parent
    if not parent.is_dir():
        msg = f": folder {str(parent)!r} does not exist or is not a folder"
        raise ExportError(msg, param=param, value=path)
    if not os.access(parent, os.W_OK | os.X_OK):
        msg = f": folder {str(parent)!r} is not writable"
        raise ExportError(msg, param=param, value=path)
    if dest.is_dir():
        raise ExportError("is a folder, expected a file name", param=param, value=path)
    if dest.exists() and not overwrite:
        msg = "already exists; pass {overwrite} to replace it"
        raise ExportError(msg, param=param, value=path, refs={"overwrite": True})
    return dest


@contextmanager
def atomic_outputs(dests: Sequence[Path]) -> Iterator[list[Path]]:
    """Yield temporary paths with the same file names; move them onto ``dests`` on success.

    The temporary files live in a hidden folder inside the destination folder, so the final
    ``os.replace`` is a rename on one file system and writers that embed sibling file names
    (MetaImage's ``ElementDataFile``) see the final names. On any exception the temporary
    folder is removed and nothing appears at ``dests``.

    Parameters
    ----------
    dests : sequence of Path
        Absolute destination paths, all in one folder.

    Yields
    ------
    list of Path
        Temporary paths, one per destination, same order and same file names.
    """
    parent = dests[0].parent
    tmpdir = Path(tempfile.mkdtemp(prefix=".volviz-export-", dir=parent))
    moved: list[Path] = []
    try:
        temps = [tmpdir / d.name for d in dests]
        yield temps
        for tmp, dest in zip(temps, dests, strict=True):
            if not tmp.is_file():
                msg = f"internal error: writer produced no file for {str(dest)!r}"
                raise RuntimeError(msg)
            os.replace(tmp, dest)
            moved.append(dest)
    except BaseException:
        for dest in moved:
            dest.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def write_error(exc: OSError, path: Path, *, param: str) -> ExportError:
    """Wrap an operating-system failure during writing as an :class:`ExportError`."""
    reason = exc.strerror or str(exc)
    return ExportError(f"could not be written: {reason}", param=param, value=path)
