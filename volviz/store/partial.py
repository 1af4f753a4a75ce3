"""Resumable writing: a durable partial store plus a journal of committed batches.

A capture writes ``.NAME.partial`` (an ordinary store being filled) beside the target and,
after each batch is flushed, appends one line to ``.NAME.partial.journal``: the batch's input
records and a CRC-32 of every array written. A batch counts as committed once its line is
complete. The target path only ever receives a finished file, by rename.

HDF5 does not promise a consistent file after a crash (``kill -9`` can land while metadata is
half written), so a resume never appends to the old partial. It is renamed to
``.NAME.resume``, its committed batches are read back, checked against their CRCs and
replayed into a fresh partial, batch by batch, exactly as the first run wrote them; the first
batch that cannot be read or does not match ends the replay and is captured again. The
result has the same content as an uninterrupted run. A lock file ``.NAME.lock`` keeps two
processes from writing the same target (``filelock``: released by the operating system
when its holder dies, on every platform).

Every intermediate state a kill can leave between two steps is recoverable (``recover``):

- ``journal`` without ``partial``: the capture had published its file (or had not yet
  created it): a stale journal, dropped.
- ``resume.journal`` without ``resume``: a resume was setting the capture aside (the journal
  is renamed first, then the partial): the rename is completed.
- ``resume`` without ``resume.journal``: a replay had finished (its journal is dropped first,
  then its source): the source is dropped.
- ``resume.journal`` with ``resume``: a replay was under way: it is started again from the
  source and the half-filled new partial is dropped.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import filelock
import h5py
import numpy as np

from volviz.errors import StoreError, literal
from volviz.store.writer import StoreWriter

JOURNAL_VERSION = 1
# Layer group attributes the writer sets itself; everything else is replayed as given.
_OWN_ATTRS = ("volviz-encoding", "volviz-encoding-version", "index")


def on_step(step: str) -> None:
    """Called with a step's name just before each rename or unlink of the protocol.

    Does nothing; tests replace it to kill the process at every step in turn.
    """


def _step(step: str) -> None:
    on_step(step)


def state_paths(target: Path) -> dict[str, Path]:
    """Files of a resumable capture of ``target`` (all hidden, beside it)."""
    stem = f".{target.name}"
    return {
        "partial": target.with_name(f"{stem}.partial"),
        "journal": target.with_name(f"{stem}.partial.journal"),
        "resume": target.with_name(f"{stem}.resume"),
        "resume_journal": target.with_name(f"{stem}.resume.journal"),
        "lock": target.with_name(f"{stem}.lock"),
    }


def crc(array: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(array).view(np.uint8).reshape(-1).data)


def read_journal(path: Path) -> tuple[dict[str, Any] | None, Iterator[dict[str, Any]]]:
    """The header and an iterator over complete batch entries (a torn last line is dropped)."""
    if not path.is_file():
        return None, iter(())
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        header = json.loads(first) if first.endswith(b"\n") else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("volviz-journal") != JOURNAL_VERSION:
        return None, iter(())

    def entries() -> Iterator[dict[str, Any]]:
        with path.open("rb") as handle:
            handle.readline()
            for line in handle:
                if not line.endswith(b"\n"):
                    return
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    return

    return header, entries()


def committed_images(target: Path) -> int:
    """How many images an unfinished capture of ``target`` holds (0 when there is none)."""
    p = state_paths(target)
    header, entries = read_journal(p["resume_journal"])
    if header is not None and (p["resume"].is_file() or p["partial"].is_file()):
        return sum(len(e["records"]) for e in entries)
    header, entries = read_journal(p["journal"])
    if header is not None and p["partial"].is_file():
        return sum(len(e["records"]) for e in entries)
    return 0


def recover(target: Path) -> None:
    """Bring the files a killed capture of ``target`` left into a state a run can use.

    Call with the lock held. Afterwards there is nothing, an unfinished capture
    (``journal`` + ``partial``), or a resume source (``resume.journal`` + ``resume``,
    possibly beside the half-filled partial of a dead replay).
    """
    p = state_paths(target)
    if read_journal(p["resume_journal"])[0] is not None:
        if not p["resume"].is_file():
            if p["partial"].is_file() and not p["journal"].is_file():
                _step("recover-partial-aside")
                os.replace(p["partial"], p["resume"])
            else:
                _step("recover-drop-resume-journal")
                p["resume_journal"].unlink(missing_ok=True)
    else:
        p["resume_journal"].unlink(missing_ok=True)
        p["resume"].unlink(missing_ok=True)
    if not p["resume_journal"].is_file() and not p["partial"].is_file():
        p["journal"].unlink(missing_ok=True)


class ResumableWriter(StoreWriter):
    """A ``StoreWriter`` whose partial file survives interruptions and can be resumed.

    Parameters
    ----------
    path : path-like
        The target store.
    settings : mapping
        What must be equal for a resume to give the same file (model, weights, layers,
        batch size, dtype, ...); a resume with other settings is refused, naming the first.
    resume : bool
        Continue an unfinished capture of ``path`` when there is one.
    force : bool
        Replace an existing target and discard an unfinished capture.
    **kwargs
        As for ``StoreWriter`` (``dtype``, ``compress``, ``attrs``, ``background``, ...).

    Attributes
    ----------
    stored : Counter of str
        Content hashes of the images replayed from the unfinished capture: inputs to skip.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        settings: Mapping[str, Any],
        resume: bool = False,
        force: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(path, force=force, **kwargs)
        self.paths = state_paths(self.path)
        self.tmp = self.paths["partial"]
        self.settings = json.loads(json.dumps(dict(settings), default=str))
        if "compress" in self.settings:  # True and "gzip" are the same setting
            self.settings["compress"] = self.codec
        self.resume = resume
        self.force = force
        self.stored: Counter[str] = Counter()
        self._journal: IO[bytes] | None = None
        self._lock: filelock.BaseFileLock | None = None
        self._owns = False  # whether the partial and journal there are this run's
        self._crcs: dict[str, int] = {}  # of the arrays written for the open batch

    def __enter__(self) -> ResumableWriter:
        self._take_lock()
        try:
            source = self._prepare()
            self._owns = True
            self._journal = self.paths["journal"].open("wb")
            self._journal.write(self._header(source) + b"\n")
            self._journal.flush()
            super().__enter__()
            if source is not None:
                self._replay(*source)
        except BaseException:
            self._close()
            self._finish(ok=False)
            raise
        return self

    def _take_lock(self) -> None:
        lock = filelock.FileLock(self.paths["lock"], timeout=0, thread_local=False)
        try:
            lock.acquire()
        except filelock.Timeout:
            msg = f"output {str(self.path)!r} is being written by another volviz process"
            raise StoreError(msg) from None
        self._lock = lock

    def _prepare(self) -> tuple[dict[str, Any], Path] | None:
        """Set the unfinished capture aside as the resume source; return its header and file."""
        p = self.paths
        if self.force:
            self._drop_all()
        recover(self.path)
        unfinished = committed_images(self.path)
        if not self.resume:
            if unfinished:
                msg = (
                    f"has an unfinished capture ({unfinished} images stored); pass {{resume}} "
                    "to continue it or {force} to start over"
                )
                refs = {"resume": True, "force": True}
                raise StoreError(msg, param="out", value=self.path, refs=refs)
            self._drop_all()
            return None
        if read_journal(p["resume_journal"])[0] is None:
            # No replay was under way: the partial becomes the source. Otherwise a replay
            # died midway and its half-filled partial is dropped in favour of the source.
            if read_journal(p["journal"])[0] is None:
                return None
            # The journal first: a kill between the renames leaves resume.journal + partial,
            # which recover() completes (the reverse order would look like a stale journal).
            _step("journal-aside")
            os.replace(p["journal"], p["resume_journal"])
            _step("partial-aside")
            os.replace(p["partial"], p["resume"])
        _step("drop-dead-replay")
        p["partial"].unlink(missing_ok=True)
        header, _ = read_journal(p["resume_journal"])
        assert header is not None
        self._check_settings(header.get("settings", {}))
        return header, p["resume"]

    def _drop_all(self) -> None:
        """Forget any unfinished capture: the journals (the commit records) go first."""
        _step("drop-journals")
        for key in ("resume_journal", "journal", "resume", "partial"):
            self.paths[key].unlink(missing_ok=True)

    def _check_settings(self, before: Mapping[str, Any]) -> None:
        for key, value in self.settings.items():
            if key in before and before[key] != value:
                what = literal(
                    f"{self.path.name} used {key}={json.dumps(before[key])}, this run "
                    f"{key}={json.dumps(value)}"
                )
                msg = (
                    f": the unfinished capture of {what}; rerun with the same options, "
                    "or pass {force} to start over"
                )
                raise StoreError(msg, param="resume", value=True, refs={"force": True})

    def _header(self, source: tuple[dict[str, Any], Path] | None) -> bytes:
        first = dict(self.attrs) if source is None else source[0].get("attrs", {})
        kept = {k: first[k] for k in ("created", "command") if k in first}
        self.attrs.update(kept)
        header = {"volviz-journal": JOURNAL_VERSION, "settings": self.settings, "attrs": kept}
        return json.dumps(header, default=str).encode()

    def _replay(self, header: dict[str, Any], source: Path) -> None:
        """Append the source's verified batches; then drop the source."""
        _, entries = read_journal(self.paths["resume_journal"])
        try:
            src = h5py.File(source, "r")
        except OSError:
            src = None
        if src is not None:
            with src:
                n0 = 0
                for entry in entries:
                    batch = _read_batch(src, n0, entry)
                    if batch is None:
                        break
                    self.append(entry["records"], *batch)
                    self.stored.update(r["sha256"] for r in entry["records"])
                    n0 += len(entry["records"])
        self._stop_thread_and_restart()
        # The journal first: a source without its journal is recognisably finished with.
        _step("drop-resume-journal")
        self.paths["resume_journal"].unlink(missing_ok=True)
        _step("drop-resume")
        source.unlink(missing_ok=True)

    def _stop_thread_and_restart(self) -> None:
        """Wait until every replayed batch is committed before the source is deleted."""
        if self._thread is None:
            return
        self._stop_thread()
        if self._error is not None:
            raise self._error
        self._start_thread()

    def _write_layer(self, key: str, array: np.ndarray, attrs: Mapping[str, Any]) -> None:
        super()._write_layer(key, array, attrs)
        self._crcs[f"layers/{key}"] = crc(array)

    def _commit(self, inputs: Sequence[Mapping[str, str]], logits: np.ndarray | None) -> None:
        """Commit the batch: flush the file, then append its journal line."""
        super()._commit(inputs, logits)
        assert self.file is not None and self._journal is not None
        self.file.flush()
        crcs, self._crcs = self._crcs, {}
        if logits is not None and np.ndim(logits) == 2:
            crcs["logits"] = crc(np.asarray(logits, dtype=np.float32))
        entry = {"records": [dict(r) for r in inputs], "crc": crcs}
        self._journal.write(json.dumps(entry).encode() + b"\n")
        self._journal.flush()

    def _finish(self, *, ok: bool) -> None:
        """Rename a finished file into place, or keep/drop an unfinished one; release the lock."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        p = self.paths
        if ok:
            _step("publish")
            os.replace(p["partial"], self.path)
        if self._owns and (ok or not self._n):
            _step("drop-journal")
            p["journal"].unlink(missing_ok=True)
            p["partial"].unlink(missing_ok=True)
        if self._lock is not None:
            _step("unlock")
            p["lock"].unlink(missing_ok=True)
            self._lock.release()
            self._lock = None


def _read_batch(
    src: h5py.File, n0: int, entry: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], np.ndarray | None, dict[str, dict[str, Any]]] | None:
    """One committed batch read back from a partial, or None if it is damaged."""
    n1 = n0 + len(entry["records"])
    arrays: dict[str, np.ndarray] = {}
    attrs: dict[str, dict[str, Any]] = {}
    logits = None
    try:
        for key, expected in entry["crc"].items():
            if key == "logits":
                logits = src["predictions/logits"][n0:n1]
                array = logits
            else:
                ds = src[key]["activations"]
                array = arrays[key.split("/", 1)[1]] = ds[n0:n1]
                group = dict(src[key].attrs)
                attrs[key.split("/", 1)[1]] = {
                    k: v for k, v in group.items() if k not in _OWN_ATTRS
                }
            if len(array) != n1 - n0 or crc(array) != expected:
                return None
    except (OSError, KeyError, ValueError, RuntimeError):
        return None
    return arrays, logits, attrs
