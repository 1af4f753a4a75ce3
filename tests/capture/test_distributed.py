"""The same capture on a Dask LocalCluster (2 worker processes, 1 thread each) and on a real
cluster of separately started scheduler and worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tests.helpers import error_line
from volviz.capture.distributed import capture_distributed
from volviz.capture.extract import capture
from volviz.capture.models import LoadedModel, Preprocess
from volviz.cli.main import cli
from volviz.errors import InputError
from volviz.store import Store, validate
from volviz.store.aggregates import ALL, read_stats

ROOT = Path(__file__).resolve().parents[2]
PLAIN = Preprocess(10, 10, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "none")


def toy() -> LoadedModel:
    """conv (3 -> 2, 1x1, hand-set) -> in-place ReLU -> mean over the map: exact values."""
    conv = nn.Conv2d(3, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, -1.0, 0.0], [0.5, 0.5, 0.5]])[..., None, None])
        assert conv.bias is not None
        conv.bias.copy_(torch.tensor([0.0, -1.0]))
    module = nn.Sequential(conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return LoadedModel("toy", module, PLAIN, [], "hand-set", None, None, torch.device("cpu"))


def expected(x: torch.Tensor) -> np.ndarray:
    """The conv's output by hand: (N, 2, H, W)."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    return torch.stack([r - g, 0.5 * (r + g + b) - 1.0], dim=1).numpy()


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def items(n: int = 11) -> TensorDataset:
    x = torch.randn(n, 3, 4, 6, generator=torch.Generator().manual_seed(3))
    ds = TensorDataset(x, torch.arange(n) % 2)
    ds.classes = ["even", "odd"]  # type: ignore[attr-defined]
    return ds


@pytest.mark.parametrize(
    ("kwargs", "python", "args", "cli_words"),
    [
        ({"workers": 0}, "workers=0", ["--local-workers", "0"], "--local-workers 0"),
        ({"batch_size": 0}, "batch_size=0", ["--batch-size", "0"], "--batch-size 0"),
        ({"top_k": 0}, "top_k=0", ["--top-k", "0"], "--top-k 0"),
        ({"shards": 0, "layers": ["0"]}, "shards=0", None, None),
    ],
)
def test_bad_counts_speak_python_and_options(tmp_path, kwargs, python, args, cli_words):
    """Refused before any cluster starts: `workers=0` in Python, `--local-workers 0` in the CLI."""
    with pytest.raises(InputError) as info:
        capture_distributed(toy(), ["imgs"], tmp_path / "a.h5", **kwargs)
    assert str(info.value) == f"{python} must be at least 1"
    if args is not None:
        out = str(tmp_path / "b.h5")
        run = CliRunner().invoke(cli, ["dataset", "capture", "imgs", "-o", out, *args])
        assert run.exit_code == 1 and error_line(run) == f"Error: {cli_words} must be at least 1"
    assert list(tmp_path.iterdir()) == []


def test_bad_dtype_speaks_python(tmp_path):
    with pytest.raises(InputError, match=r"^dtype='int8' is not one of float32, float16$"):
        capture_distributed(toy(), ["imgs"], tmp_path / "a.h5", dtype="int8")


@pytest.mark.slow
def test_dataset_on_a_cluster_equals_one_process_and_merges_aggregates(client, tmp_path):
    ds = items()
    out = capture_distributed(
        toy(),
        ds,
        tmp_path / "acts.h5",
        client=client,
        shards=3,
        layers=["0"],
        batch_size=2,
        top_k=3,
    )
    capture(toy(), ds, tmp_path / "single.h5", layers=["0"], batch_size=2)
    want = expected(ds.tensors[0])
    assert validate(out) == []
    shards = sorted((tmp_path / "acts.h5.shards").iterdir())
    assert [p.name for p in shards] == ["shard-00000.h5", "shard-00001.h5", "shard-00002.h5"]
    with Store(out) as merged, Store(tmp_path / "single.h5") as single:
        acts = merged.activations("0")
        assert acts.is_virtual and merged.n_images == 11
        np.testing.assert_allclose(acts[()], want, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(acts[()], single.activations("0")[()], rtol=1e-6, atol=1e-6)
        assert merged.inputs == single.inputs
        np.testing.assert_array_equal(
            merged.predictions()["logits"], single.predictions()["logits"]
        )
        stats = read_stats(merged, "activations", "0")
        read = acts[()]
    rows = 0
    for path in shards:  # the VDS maps each shard's rows in order
        with Store(path) as part:
            n = part.n_images
            np.testing.assert_array_equal(part.activations("0")[()], read[rows : rows + n])
            rows += n
    labels = np.asarray(["even", "odd"] * 6)[:11]
    assert stats["labels"] == ["even", "odd", ALL]
    np.testing.assert_allclose(stats["mean"][1], want[labels == "odd"].mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats["variance"][2], want.astype(np.float64).var(0), atol=1e-6)
    peak = want.reshape(11, 2, -1).max(axis=2)
    np.testing.assert_array_equal(stats["top_k"]["image"], np.argsort(-peak, axis=0)[:3].T)
    result = CliRunner().invoke(
        cli, ["export", str(out), "--layer", "0", "--image", "4", "-o", str(tmp_path / "v.npy")]
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "v.npy"), want[4], rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_image_folder_on_a_cluster_and_resume_keeps_finished_shards(client, tmp_path):
    rng = np.random.default_rng(0)
    for i in range(6):
        folder = tmp_path / "imgs" / ("cat" if i < 3 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "acts.h5"
    run = dict(client=client, shards=2, layers=["0"], batch_size=2, resume=True)
    capture_distributed(toy(), [str(tmp_path / "imgs")], out, **run)
    files = sorted((tmp_path / "imgs").rglob("*.png"))
    x = torch.stack([PLAIN.transform()(Image.open(f).convert("RGB")) for f in files])
    with Store(out) as store:
        np.testing.assert_allclose(store.activations("0")[()], expected(x), rtol=1e-6, atol=1e-6)
        assert [r["label"] for r in store.inputs] == ["cat"] * 3 + ["dog"] * 3
    first, second = sorted((tmp_path / "acts.h5.shards").iterdir())
    kept = first.stat().st_mtime_ns
    second.unlink()
    capture_distributed(toy(), [str(tmp_path / "imgs")], out, force=True, **run)
    assert first.stat().st_mtime_ns == kept and second.is_file()
    assert validate(out) == []
    with pytest.raises(InputError, match="a DataLoader cannot be sharded"):
        capture_distributed(toy(), DataLoader(items()), tmp_path / "x.h5", client=client)


# A real cluster: `dask scheduler` and two `dask worker` processes, each in its own folder (as
# on separate machines), found through a scheduler file; the workers import SLOW from there.
SLOW = '''
import time
import torch
from torch.utils.data import Dataset


class SlowRows(Dataset):
    """Deterministic (3, 4, 6) images with labels, each taking DELAY seconds to load."""

    classes = ["even", "odd"]

    def __init__(self, n, delay):
        self.n, self.delay = n, delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        time.sleep(self.delay)
        x = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(i))
        return x, i % 2
'''


def _dask(kind: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"distributed.cli.dask_{kind}", *args]


@pytest.fixture(scope="module")
def real_cluster(tmp_path_factory):
    """(scheduler address, {worker name: Popen}, helper folder); stopped afterwards."""
    root = tmp_path_factory.mktemp("cluster")
    (root / "helpers").mkdir()
    (root / "helpers" / "slowdata.py").write_text(SLOW)
    path = os.pathsep.join([str(ROOT), str(root / "helpers")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    info = root / "scheduler.json"
    procs: dict[str, subprocess.Popen] = {}
    logs = []
    try:
        for name, cmd in [
            (
                "scheduler",
                _dask(
                    "scheduler",
                    "--scheduler-file",
                    str(info),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                ),
            ),
            *[
                (
                    f"w{i}",
                    _dask(
                        "worker",
                        "--scheduler-file",
                        str(info),
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--no-dashboard",
                        "--name",
                        f"w{i}",
                    ),
                )
                for i in range(2)
            ],
        ]:
            folder = root / name
            folder.mkdir()
            log = (folder / "log.txt").open("w")
            logs.append(log)
            procs[name] = subprocess.Popen(cmd, cwd=folder, env=env, stdout=log, stderr=log)
            if name == "scheduler":
                deadline = time.monotonic() + 120
                while not info.is_file() and time.monotonic() < deadline:
                    assert procs[name].poll() is None, (folder / "log.txt").read_text()
                    time.sleep(0.05)
        from dask.distributed import Client

        with Client(scheduler_file=str(info), timeout="60s") as client:
            client.wait_for_workers(2, timeout=180)
            address = client.scheduler.address
        yield address, procs, root / "helpers"
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


@pytest.mark.slow
@pytest.mark.cluster
def test_relative_paths_on_a_real_cluster_and_errors_before_submitting(
    real_cluster, tmp_path, monkeypatch
):
    address = real_cluster[0]
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for i in range(6):
        folder = Path("imgs") / ("cat" if i < 3 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    Path("out").mkdir()
    common = ["-m", "squeezenet1_1", "--weights", "random", "-l", "features.0"]
    runner = CliRunner()
    args = ["-q", "dataset", "capture", "imgs", "-o", "out/acts.h5", "--scheduler", address]
    result = runner.invoke(cli, [*args, *common, "--shards", "3", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    single = runner.invoke(cli, ["-q", "capture", "imgs", "-o", "single.h5", *common])
    assert single.exit_code == 0, single.output
    assert validate("out/acts.h5") == []
    with Store("out/acts.h5") as merged, Store("single.h5") as one:
        assert merged.n_images == 6 and merged.activations("features.0").is_virtual
        np.testing.assert_allclose(
            merged.activations("features.0")[()], one.activations("features.0")[()], rtol=1e-5
        )
        sources = [r["source"] for r in merged.inputs]  # resolved on the client
        assert sources == [str(Path(r["source"]).absolute()) for r in one.inputs]
        assert [r["label"] for r in merged.inputs] == ["cat"] * 3 + ["dog"] * 3
    assert sorted(p.name for p in Path("out/acts.h5.shards").iterdir()) == [
        f"shard-0000{i}.h5" for i in range(3)
    ]
    for bad, message in [
        (["-l", "nope"], "Error: --layers 'nope' matches no layer"),
        (["--weights", "missing.pt"], "missing.pt"),
        (["--compress", "lzf"], "Error: --compress 'lzf' is not one of"),
    ]:
        bad_args = ["dataset", "capture", "imgs", "-o", "out/bad.h5", "--scheduler", address]
        run = runner.invoke(cli, [*bad_args, *common, *bad])
        assert run.exit_code != 0 and message in run.output, run.output
        assert "Traceback" not in run.output
        assert not Path("out/bad.h5").exists() and not Path("out/bad.h5.shards").exists()


@pytest.mark.slow
@pytest.mark.cluster
def test_a_worker_killed_mid_shard_does_not_fail_the_run(real_cluster, tmp_path, monkeypatch):
    from dask.distributed import Client

    address, procs, helpers = real_cluster
    monkeypatch.syspath_prepend(str(helpers))
    from slowdata import SlowRows  # type: ignore[import-not-found]

    out = tmp_path / "acts.h5"
    journal = tmp_path / "acts.h5.shards" / ".shard-00000.h5.partial.journal"
    killed: list[str] = []

    def kill_shard_0_after_one_batch(client: Client) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if journal.is_file() and journal.read_bytes().count(b"\n") >= 2:
                busy = client.processing()
                workers = client.scheduler_info()["workers"]
                for addr, keys in busy.items():
                    if any(str(k).endswith("-0") for k in keys):
                        name = workers[addr]["name"]
                        os.kill(procs[name].pid, signal.SIGKILL)
                        killed.append(name)
                        return
            time.sleep(0.02)

    with Client(address, timeout="60s") as client:
        watcher = threading.Thread(target=kill_shard_0_after_one_batch, args=(client,))
        watcher.start()
        data = SlowRows(12, 0.25)
        capture_distributed(toy(), data, out, client=client, shards=2, layers=["0"], batch_size=2)
        watcher.join()
    assert len(killed) == 1 and procs[killed[0]].wait(timeout=30) == -signal.SIGKILL
    x = torch.stack([data[i][0] for i in range(12)])
    with Store(out) as store:
        np.testing.assert_allclose(store.activations("0")[()], expected(x), rtol=1e-6, atol=1e-6)
        assert [r["label"] for r in store.inputs] == ["even", "odd"] * 6
    assert validate(out) == []
    assert sorted(p.name for p in (tmp_path / "acts.h5.shards").iterdir()) == [
        "shard-00000.h5",
        "shard-00001.h5",
    ]
