"""Write-then-rename: outputs appear complete or not at all.

The one way volviz and its libraries write a file: :func:`atomic_file` for one file or folder
(a hidden ``.NAME.tmp-PID`` beside it, renamed on success), :func:`atomic_outputs` for files
that must appear together, :func:`remove_stale_temporaries` for what killed writers left.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from exporters._errors import ExportError

TMP_MARK = ".tmp-"


def temp_name(target: Path) -> Path:
    """The hidden temporary of ``target`` for this process: ``.NAME.tmp-PID`` + its suffix.

    Beside the target, so the final rename stays on one file system; ending in the target's
    suffix, so writers that choose a format by extension (images, movies) still see it.
    """
    return target.with_name(f".{target.name}{TMP_MARK}{os.getpid()}{target.suffix}")


@contextmanager
def atomic_file(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write ``target`` to (a file, or a folder the caller makes);
    rename it onto ``target`` when the block ends without error, else remove it.

    An existing folder at ``target`` is replaced only by a folder (the rename cannot replace
    a non-empty folder, so it is removed first).
    """
    dest = Path(target)
    tmp = temp_name(dest)
    try:
        yield tmp
        if tmp.is_dir() and dest.is_dir():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def remove_stale_temporaries(target: Path) -> None:
    """Delete the temporaries of ``target`` (see :func:`temp_name`) whose process is gone.

    A killed writer cannot remove its own temporary. Only processes of this machine are
    checked, so a folder shared by several machines should be cleaned per machine.
    """
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return
    prefix = f".{target.name}{TMP_MARK}"
    for tmp in target.parent.glob(f"{prefix}*"):
        digits = tmp.name[len(prefix) :].split(".")[0]
        if digits.isdigit() and not _running(int(digits)):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


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
