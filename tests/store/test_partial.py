"""The resume protocol killed at each of its steps: every state left behind recovers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from volviz.errors import StoreError
from volviz.store.partial import ResumableWriter, committed_images, recover, state_paths

ROOT = Path(__file__).resolve().parents[2]

# Writes 5 batches of 4 images, skipping replayed ones; os._exit(9) (no clean-up, like
# SIGKILL) at the protocol step named by argv[2], or before appending batch argv[3].
JOB = """
import os, sys
import numpy as np
from volviz.store import partial
out, kill_at, stop_before = sys.argv[1], sys.argv[2], int(sys.argv[3])
partial.on_step = lambda step: os._exit(9) if step == kill_at else None
attrs = {"model": "m", "created": "2026-01-01", "volviz_version": "0"}
with partial.ResumableWriter(out, settings={"batch_size": 4}, resume=True, attrs=attrs) as w:
    for k in range(5):
        rng = np.random.default_rng(k)
        records = [
            {"source": f"f{4 * k + i}", "name": f"img{4 * k + i}", "label": "xy"[i % 2],
             "sha256": f"{4 * k + i:064d}"}
            for i in range(4)
        ]
        arrays = {"a": rng.normal(size=(4, 3, 4, 5)).astype(np.float32)}
        if all(w.stored[r["sha256"]] for r in records):
            continue
        if k == stop_before:
            os._exit(9)
        w.append(records, arrays, rng.normal(size=(4, 6)).astype(np.float32))
"""


def run(job: Path, out: Path, kill_at: str = "-", stop_before: int = 99) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, str(job), str(out), kill_at, str(stop_before)]
    return subprocess.run(args, env=env, timeout=120).returncode


def contents(path: Path) -> dict[str, object]:
    """Every dataset's values and every attribute, by HDF5 path."""
    found: dict[str, object] = {"/": dict(h5py.File(path, "r").attrs)}
    with h5py.File(path, "r") as f:

        def visit(name: str, obj: object) -> None:
            found[name + "@attrs"] = {k: str(v) for k, v in obj.attrs.items()}  # type: ignore[attr-defined]
            if isinstance(obj, h5py.Dataset):
                found[name] = obj[()].tolist()
                found[name + "@layout"] = (obj.dtype.str, obj.chunks, obj.shape)

        f.visititems(visit)
    return found


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("reference")
    (folder / "job.py").write_text(JOB)
    assert run(folder / "job.py", folder / "ref.h5") == 0
    return contents(folder / "ref.h5")


# Kill sequences after a first run died before batch 3 (3 batches committed); each later
# run resumes, and a last plain --resume must finish the same store as an uninterrupted run.
SEQUENCES = [
    ["drop-dead-replay"],
    ["journal-aside"],
    ["partial-aside"],  # journal set aside, partial not yet: must not be lost
    ["partial-aside", "recover-partial-aside"],
    ["drop-resume-journal"],  # the replay is complete and committed
    ["drop-resume"],
    ["publish"],
    ["-:4"],  # killed after the replay and one new batch
    ["-:4", "drop-resume-journal", "drop-resume"],
]
FINISHED = ["drop-journal", "unlock"]  # killed after the store was published


@pytest.mark.slow
@pytest.mark.parametrize("kills", SEQUENCES + [[k] for k in FINISHED], ids=repr)
def test_a_kill_at_any_step_then_resume_gives_the_uninterrupted_store(
    tmp_path: Path, reference: dict[str, object], kills: list[str]
) -> None:
    job, out = tmp_path / "job.py", tmp_path / "acts.h5"
    job.write_text(JOB)
    assert run(job, out, stop_before=3) == 9
    assert committed_images(out) == 12
    for kill in kills:
        step, _, stop = kill.partition(":")
        assert run(job, out, step, int(stop or 99)) == 9, kill
    if kills[-1] in FINISHED:  # a published store: no stale claim of an unfinished capture
        assert committed_images(out) == 0
        with pytest.raises(StoreError, match="exists; pass force=True"):
            ResumableWriter(out, settings={}, resume=True)
        recover(out)
    else:
        assert committed_images(out) > 0 and not out.exists()
        assert run(job, out) == 0
    assert contents(out) == reference
    hidden = {p.name for p in tmp_path.iterdir()} - {"job.py", "acts.h5"}
    assert hidden <= {state_paths(out)["lock"].name}


def test_an_unfinished_capture_is_refused_in_python_words(tmp_path: Path) -> None:
    job, out = tmp_path / "job.py", tmp_path / "acts.h5"
    job.write_text(JOB)
    assert run(job, out, stop_before=1) == 9
    with pytest.raises(StoreError) as info:
        ResumableWriter(out, settings={"batch_size": 4}).__enter__()
    assert str(info.value) == (
        f"out={str(out)!r} has an unfinished capture (4 images stored); pass resume=True to "
        "continue it or force=True to start over"
    )
    with pytest.raises(StoreError) as info:
        ResumableWriter(out, settings={"batch_size": 8}, resume=True).__enter__()
    assert str(info.value) == (
        "resume=True: the unfinished capture of acts.h5 used batch_size=4, this run "
        "batch_size=8; rerun with the same options, or pass force=True to start over"
    )
    assert committed_images(out) == 4 and run(job, out) == 0


def test_second_writer_of_one_target_is_refused_and_stale_temporaries_go(
    tmp_path: Path,
) -> None:
    out = tmp_path / "acts.h5"
    with ResumableWriter(out, settings={}), pytest.raises(StoreError, match="another volviz"):
        ResumableWriter(out, settings={}).__enter__()
    assert not out.exists() or h5py.is_hdf5(out)
