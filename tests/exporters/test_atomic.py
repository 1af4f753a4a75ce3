"""The one way to write a file: hidden temporary beside the target, renamed on success."""

from __future__ import annotations

import subprocess
import sys

import pytest

from exporters._atomic import atomic_file, remove_stale_temporaries, temp_name


def test_atomic_file_appears_complete_or_not_at_all(tmp_path):
    target = tmp_path / "frame.png"
    with atomic_file(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".frame.png.tmp-")
        assert tmp.suffix == ".png"  # writers that pick a format by extension see it
        tmp.write_bytes(b"new")
        assert not target.exists()
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError, match="boom"), atomic_file(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame.png"]


def test_atomic_file_replaces_a_folder_with_a_folder(tmp_path):
    target = tmp_path / "report"
    target.mkdir()
    (target / "old.html").write_text("old")
    with atomic_file(target) as tmp:
        tmp.mkdir()
        (tmp / "index.html").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["index.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    target = tmp_path / "acts.h5"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    stale = tmp_path / f".acts.h5.tmp-{dead.stdout.strip()}.h5"
    stale.write_bytes(b"x")
    mine = temp_name(target)
    mine.write_bytes(b"y")
    other = tmp_path / ".other.h5.tmp-1.h5"  # another target's temporary: not ours to judge
    other.write_bytes(b"z")
    remove_stale_temporaries(target)
    assert not stale.exists()
    assert mine.exists() and other.exists()
