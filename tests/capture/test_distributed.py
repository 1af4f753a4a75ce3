"""The same capture on a Dask LocalCluster (2 worker processes, 1 thread each)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from volviz.capture.distributed import capture_distributed
from volviz.capture.extract import capture
from volviz.capture.models import LoadedModel, Preprocess
from volviz.cli.main import cli
from volviz.errors import InputError
from volviz.store import Store, validate
from volviz.store.aggregates import ALL, read_stats

PLAIN = Preprocess(10, 10, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "none")


def toy() -> LoadedModel:
    """conv (3 -> 2, 1x1, hand-set) -> in-place ReLU -> mean over the map: exact values."""
    conv = nn.Conv2d(3, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, -1.0, 0.0], [0.5, 0.5, 0.5]])[..., None, None])
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
