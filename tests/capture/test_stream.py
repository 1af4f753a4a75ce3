"""Streaming sources, resume after kill -9, and streaming aggregates, with exact expectations."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

from tests.helpers import error_line
from volviz.capture.extract import capture
from volviz.capture.models import Preprocess
from volviz.errors import StoreError
from volviz.store import Store, validate
from volviz.store.aggregates import (
    ALL,
    ClassStats,
    TopK,
    aggregate_store,
    order_from_stats,
    read_stats,
)
from volviz.store.partial import state_paths

ROOT = Path(__file__).resolve().parents[2]
PLAIN = Preprocess(12, 12, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "none")
# Attributes allowed to differ between a resumed and an uninterrupted capture.
VOLATILE = ("created",)

TOY_MODEL = """
import torch
from torch import nn
from volviz.capture.models import LoadedModel, Preprocess

def toy():
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 5, 3, stride=2),
        nn.Flatten(), nn.Linear(5 * 4 * 4, 3),
    )
    plain = Preprocess(12, 12, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "none")
    return LoadedModel("toy", module, plain, ["a", "b", "c"], "random", None, 0,
                       torch.device("cpu"))
"""
namespace: dict = {}
exec(TOY_MODEL, namespace)
toy = namespace["toy"]

JOB = (
    TOY_MODEL
    + """
import sys, time
from torch.utils.data import Dataset
from tests.helpers import error_line
from volviz.capture.extract import capture

class Slow(Dataset):
    classes = ["a", "b", "c"]
    def __len__(self): return 40
    def __getitem__(self, i):
        # "hold": stop for good at image 16 (after 4 batches of 4), so the test's SIGKILL
        # always lands mid-capture, however slow or fast the machine is.
        while sys.argv[2] == "hold" and i >= 16:
            time.sleep(1)
        return torch.randn(3, 12, 12, generator=torch.Generator().manual_seed(i)), i % 3

torch.set_num_threads(1)
capture(toy(), Slow(), sys.argv[1], layers=["0", "2"], batch_size=4, resume=True,
        command="volviz capture (test)")
"""
)


class Slow(TensorDataset):
    """Named as the JOB's dataset, so records (``source = dataset:Slow``) agree too."""


def slow_items() -> TensorDataset:
    """The same 40 images as the JOB's dataset, in memory."""
    x = torch.stack(
        [torch.randn(3, 12, 12, generator=torch.Generator().manual_seed(i)) for i in range(40)]
    )
    ds = Slow(x, torch.arange(40) % 3)
    ds.classes = ["a", "b", "c"]  # type: ignore[attr-defined]
    return ds


def differences(a: Path, b: Path) -> list[str]:
    """Every dataset value, dtype, chunking and attribute that differs (VOLATILE excepted)."""
    found: list[str] = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names_a: list[str] = []
        names_b: list[str] = []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        if names_a != names_b:
            return [f"objects differ: {sorted(set(names_a) ^ set(names_b))}"]
        for name in ["/", *names_a]:
            oa, ob = fa[name], fb[name]
            for key in set(oa.attrs) | set(ob.attrs):
                if key in VOLATILE and name == "/":
                    continue
                va, vb = oa.attrs.get(key), ob.attrs.get(key)
                if not np.array_equal(np.asarray(va), np.asarray(vb)):
                    found.append(f"{name} attribute {key}: {va!r} != {vb!r}")
            if isinstance(oa, h5py.Dataset):
                same = oa.dtype == ob.dtype and oa.chunks == ob.chunks
                if not same or not np.array_equal(oa[()], ob[()]):
                    found.append(f"{name} data differs")
    return found


def test_folder_dataset_and_dataloader_sources_store_exact_values(tmp_path):
    loaded = toy()
    rng = np.random.default_rng(0)
    for i in range(5):
        folder = tmp_path / "imgs" / ("cat" if i % 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    files = sorted((tmp_path / "imgs").rglob("*.png"))
    x = torch.stack([PLAIN.transform()(Image.open(f).convert("RGB")) for f in files])
    with torch.no_grad():
        want = loaded.module[0](x).numpy()
    for workers, name in ((0, "thread.h5"), (2, "procs.h5")):
        capture(
            loaded,
            [str(tmp_path / "imgs")],
            tmp_path / name,
            layers=["0"],
            batch_size=2,
            num_workers=workers,
        )
        with Store(tmp_path / name) as store:
            np.testing.assert_allclose(store.activations("0")[()], want, rtol=1e-5, atol=1e-6)
            assert [r["label"] for r in store.inputs] == [f.parent.name for f in files]
    ds = slow_items()
    with torch.no_grad():
        want = loaded.module[:3](ds.tensors[0]).numpy()
    capture(loaded, ds, tmp_path / "ds.h5", layers=["2"], batch_size=8)
    capture(loaded, DataLoader(ds, batch_size=16), tmp_path / "dl.h5", layers=["2"])
    for name in ("ds.h5", "dl.h5"):
        with Store(tmp_path / name) as store:
            np.testing.assert_allclose(store.activations("2")[()], want, rtol=1e-6, atol=1e-6)
            assert [r["label"] for r in store.inputs][:4] == ["a", "b", "c", "a"]
            assert store.provenance["batch_size"] == (8 if name == "ds.h5" else 16)
    assert differences(tmp_path / "ds.h5", tmp_path / "ds.h5") == []


def journal_lines(journal: Path) -> int:
    return journal.read_bytes().count(b"\n") if journal.is_file() else 0


@pytest.mark.slow
def test_kill_9_then_resume_gives_the_same_file_as_an_uninterrupted_run(tmp_path):
    job = tmp_path / "job.py"
    job.write_text(JOB)
    out = tmp_path / "acts.h5"
    journal = state_paths(out)["journal"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(job), str(out), "hold"], env=env)
    deadline = time.monotonic() + 120
    while journal_lines(journal) < 4 and proc.poll() is None:  # header + 3 batches
        assert time.monotonic() < deadline, "the job journaled no 3 batches in 120 s"
        time.sleep(0.02)
    assert proc.poll() is None, "the job ended before it was killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists() and state_paths(out)["partial"].is_file()
    with pytest.raises(
        StoreError,
        match=r"^out=.* has an unfinished capture \(\d+ images stored\); pass resume=True",
    ):
        capture(toy(), slow_items(), out, layers=["0", "2"], batch_size=4)
    subprocess.run([sys.executable, str(job), str(out), "run"], env=env, check=True)
    reference = tmp_path / "reference.h5"
    capture(
        toy(),
        slow_items(),
        reference,
        layers=["0", "2"],
        batch_size=4,
        command="volviz capture (test)",
    )
    assert differences(out, reference) == []
    assert validate(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acts.h5", "job.py", "reference.h5"]


def interrupt_after(images: int):
    def progress(done: int, total: int) -> None:
        if done >= images:
            raise KeyboardInterrupt

    return progress


def test_damaged_batches_and_torn_journal_lines_are_captured_again(tmp_path):
    out, reference = tmp_path / "acts.h5", tmp_path / "ref.h5"
    capture(toy(), slow_items(), reference, layers=["0", "2"], batch_size=4)
    with pytest.raises(KeyboardInterrupt):
        capture(
            toy(), slow_items(), out, layers=["0", "2"], batch_size=4, progress=interrupt_after(20)
        )
    paths = state_paths(out)
    with h5py.File(paths["partial"], "r+") as f:  # bit rot in the 3rd batch
        f["layers/2/activations"][9] = 0.0
    with paths["journal"].open("ab") as journal:
        journal.write(b'{"records": [')  # a line torn by the kill
    resumed = []
    capture(
        toy(),
        slow_items(),
        out,
        layers=["0", "2"],
        batch_size=4,
        resume=True,
        progress=lambda done, total: resumed.append(done),
    )
    assert resumed[0] == 12  # 2 batches replayed, the damaged one captured again
    assert differences(out, reference) == []


def test_resume_refuses_other_settings_and_errors_leave_no_file(tmp_path):
    out = tmp_path / "acts.h5"
    with pytest.raises(KeyboardInterrupt):
        capture(toy(), slow_items(), out, layers=["0"], batch_size=4, progress=interrupt_after(4))
    with pytest.raises(StoreError, match="used batch_size=4, this run batch_size=8"):
        capture(toy(), slow_items(), out, layers=["0"], batch_size=8, resume=True)
    capture(toy(), slow_items(), out, layers=["0"], batch_size=8, force=True)
    with Store(out) as store:
        assert store.n_images == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acts.h5"]
    bad = torch.zeros(2, 3, 2, 2)  # too small for the 3x3 convs: fails in the first batch
    with pytest.raises(RuntimeError):
        capture(toy(), bad, tmp_path / "bad.h5", layers=["0"], resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acts.h5"]


def test_class_stats_and_top_k_match_numpy_on_all_samples():
    rng = np.random.default_rng(1)
    values = rng.normal(3.0, 2.0, size=(37, 2, 3, 4))
    values[5, 1, 2, 3] = values[9, 1, 0, 0] = 50.0  # a tie: the lower row wins
    labels = [("x", "y", "z")[i % 3] for i in range(37)]
    stats, top, halves = ClassStats((2, 3, 4)), TopK(3), [ClassStats((2, 3, 4)) for _ in range(2)]
    for n0 in range(0, 37, 5):
        stats.update(values[n0 : n0 + 5], labels[n0 : n0 + 5])
        top.update(values[n0 : n0 + 5], np.arange(n0, min(n0 + 5, 37)))
        halves[n0 >= 20].update(values[n0 : n0 + 5], labels[n0 : n0 + 5])
    merged = halves[0].merge(halves[1])
    for label in ("x", "y", "z"):
        rows = values[np.asarray(labels) == label]
        for s in (stats, merged):
            assert s.count[label] == len(rows)
            np.testing.assert_allclose(s.mean[label], rows.mean(axis=0), rtol=1e-12)
            np.testing.assert_allclose(s.variance(label), rows.var(axis=0), rtol=1e-10)
    total = stats.total()
    np.testing.assert_allclose(total.variance(ALL), values.var(axis=0), rtol=1e-10)
    peaks = values.reshape(37, 2, 12).max(axis=2)
    assert top.image is not None and top.value is not None and top.y is not None
    for c in range(2):
        order = np.lexsort((np.arange(37), -peaks[:, c]))[:3]
        np.testing.assert_array_equal(top.image[c], order)
        np.testing.assert_allclose(top.value[c], peaks[order, c], rtol=1e-6)
    assert (top.image[1, 0], top.y[1, 0], top.x[1, 0]) == (5, 2, 3)
    with pytest.raises(StoreError, match="do not fit"):
        stats.update(values[:2, :1], labels[:2])


def test_aggregate_store_and_order_over_many_images(tmp_path):
    import ordering

    out = tmp_path / "acts.h5"
    capture(toy(), slow_items(), out, layers=["0"], batch_size=8)
    assert aggregate_store(out, top_k=4, block=7) == ["0"]
    with Store(out) as store:
        acts = store.activations("0")[()].astype(np.float64)
        labels = np.asarray([r["label"] for r in store.inputs])
        stats = read_stats(store, "activations", "0")
    assert stats["labels"] == ["a", "b", "c", ALL]
    assert stats["count"].tolist() == [14, 13, 13, 40]
    for i, label in enumerate(["a", "b", "c"]):
        np.testing.assert_allclose(stats["mean"][i], acts[labels == label].mean(0), rtol=1e-10)
        np.testing.assert_allclose(stats["variance"][i], acts[labels == label].var(0), atol=1e-12)
    np.testing.assert_allclose(stats["variance"][3], acts.var(0), atol=1e-12)
    peak = acts.reshape(40, 4, -1).max(axis=2)
    np.testing.assert_array_equal(stats["top_k"]["image"], np.argsort(-peak, axis=0)[:4].T)
    stored = order_from_stats(out, "0", "spectral")
    want = ordering.fit_order(acts.mean(0).astype(np.float32), "spectral").order_
    np.testing.assert_array_equal(stored.order, want)
    with Store(out) as store:
        assert store.ordering("0", "spectral-mean").order.tolist() == want.tolist()
        with pytest.raises(StoreError, match="'2' has no activations aggregates"):
            read_stats(store, "activations", "2")
    assert validate(out) == []


def test_gradient_stats_match_per_image_gradients():
    from volviz.capture.aggregate import gradient_stats
    from volviz.capture.gradients import weight_gradients
    from volviz.capture.targets import Target

    loaded, ds = toy(), slow_items()
    stats = gradient_stats(loaded, ds, ["0"], batch_size=16)["0"]
    per = weight_gradients(loaded.module, ds.tensors[0], ["0"], Target(None)).per_image
    assert per is not None
    labels = np.asarray(["abc"[i % 3] for i in range(40)])
    for label in "abc":
        rows = per["0"][labels == label].astype(np.float64)
        np.testing.assert_allclose(stats.mean[label], rows.mean(0), rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(stats.variance(label), rows.var(0), rtol=1e-4, atol=1e-12)


@pytest.mark.slow
def test_cli_capture_resume_continues_an_interrupted_run(tmp_path):
    from click.testing import CliRunner

    from volviz.capture.models import load_model
    from volviz.cli.main import cli

    out = tmp_path / "acts.h5"
    samples = ["sample:chelsea", "sample:coffee", "sample:rocket"]
    args = ["-q", "capture", *samples, "-o", str(out), "-m", "alexnet", "--weights", "random"]
    args += ["--layers", "features.0", "--batch-size", "1"]
    loaded = load_model("alexnet", weights="random", seed=0)
    with pytest.raises(KeyboardInterrupt):
        capture(
            loaded, samples, out, layers=["features.0"], batch_size=1, progress=interrupt_after(1)
        )
    runner = CliRunner()
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 1
    assert "unfinished capture (1 images stored); pass --resume" in refused.output
    changed = runner.invoke(cli, [*args, "--resume", "--dtype", "float16"])
    assert error_line(changed) == (
        'Error: --resume: the unfinished capture of acts.h5 used dtype="float32", this run '
        'dtype="float16"; rerun with the same options, or pass --force to start over'
    )
    done = runner.invoke(cli, [*args, "--resume"])
    assert done.exit_code == 0, done.output
    reference = tmp_path / "ref.h5"
    capture(loaded, samples, reference, layers=["features.0"], batch_size=1)
    with Store(out) as a, Store(reference) as b:
        assert a.inputs == b.inputs
        np.testing.assert_array_equal(
            a.activations("features.0")[()], b.activations("features.0")[()]
        )
