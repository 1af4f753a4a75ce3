"""Merging shard stores through HDF5 virtual datasets: reads equal the shards' data."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from volviz.errors import StoreError
from volviz.store import Store, StoreWriter, validate
from volviz.store.aggregates import ALL, aggregate_store, read_stats
from volviz.store.shards import merge_shards

ATTRS = {"model": "m", "created": "now", "volviz_version": "0", "dtype": "float32"}


def shard(path, start, n, layers=("a", "b")):
    """A store of images start..start+n-1 whose values encode (image, layer)."""
    records = [
        {"source": f"f{i}", "name": f"img{i}", "label": "xy"[i % 2], "sha256": f"{i:064d}"}
        for i in range(start, start + n)
    ]
    rng = np.random.default_rng(start)
    arrays = {
        "a": rng.normal(size=(n, 3, 4, 5)).astype(np.float32),
        "b": rng.normal(size=(n, 2, 3, 3)).astype(np.float32),
    }
    logits = rng.normal(size=(n, 4)).astype(np.float32)
    with StoreWriter(path, attrs=ATTRS, class_names=["p", "q", "r", "s"]) as w:
        w.append(records, {k: arrays[k] for k in layers}, logits)
    return arrays, logits


def test_merged_store_reads_equal_the_shards_and_survive_a_move(tmp_path):
    folder = tmp_path / "run"
    (folder / "acts.h5.shards").mkdir(parents=True)
    starts, counts = [0, 3, 5], [3, 2, 4]
    parts = [shard(folder / "acts.h5.shards" / f"s{i}.h5", starts[i], counts[i]) for i in range(3)]
    for i in range(3):
        aggregate_store(folder / "acts.h5.shards" / f"s{i}.h5", top_k=2)
    out = merge_shards(
        [folder / "acts.h5.shards" / f"s{i}.h5" for i in range(3)], folder / "acts.h5"
    )
    shutil.move(folder, tmp_path / "moved")  # shard paths are stored relative to the file
    moved = tmp_path / "moved" / out.name
    assert validate(moved) == []
    a = np.concatenate([p[0]["a"] for p in parts])
    with Store(moved) as store:
        assert store.n_images == 9 and store.layers == ["a", "b"]
        assert store.activations("a").is_virtual
        np.testing.assert_array_equal(store.activations("a")[()], a)
        np.testing.assert_array_equal(store.volume("b", "img7"), parts[2][0]["b"][2])
        assert [r["name"] for r in store.inputs] == [f"img{i}" for i in range(9)]
        pred = store.predictions()
        assert pred is not None
        np.testing.assert_array_equal(pred["logits"], np.concatenate([p[1] for p in parts]))
        assert list(pred["class_names"]) == ["p", "q", "r", "s"]
        stats = read_stats(store, "activations", "a")
    labels = np.asarray(["xy"[i % 2] for i in range(9)])
    assert stats["labels"] == ["x", "y", ALL] and stats["count"].tolist() == [5, 4, 9]
    np.testing.assert_allclose(stats["mean"][0], a[labels == "x"].mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats["variance"][2], a.astype(np.float64).var(0), rtol=1e-6)
    peak = a.reshape(9, 3, -1).max(axis=2)
    np.testing.assert_array_equal(stats["top_k"]["image"], np.argsort(-peak, axis=0)[:2].T)


def test_missing_shard_and_mismatched_shards_are_refused(tmp_path):
    shard(tmp_path / "s0.h5", 0, 2)
    shard(tmp_path / "s1.h5", 2, 2)
    shard(tmp_path / "other.h5", 4, 2, layers=("a",))
    out = merge_shards([tmp_path / "s0.h5", tmp_path / "s1.h5"], tmp_path / "m.h5")
    with pytest.raises(StoreError, match="other layers or shapes than 's0.h5'"):
        merge_shards([tmp_path / "s0.h5", tmp_path / "other.h5"], tmp_path / "x.h5")
    with pytest.raises(StoreError, match="SHARDS is empty"):
        merge_shards([], tmp_path / "x.h5")
    with pytest.raises(StoreError, match="exists; pass force=True"):
        merge_shards([tmp_path / "s0.h5"], out)
    (tmp_path / "s1.h5").unlink()
    with pytest.raises(StoreError, match="shard 's1.h5' of m.h5 is missing"):
        Store(out)
    assert validate(out) == ["shard 's1.h5' of m.h5 is missing"]
    assert not (tmp_path / "x.h5").exists()


def test_dataset_cli_merge_stats_and_order(tmp_path):
    from click.testing import CliRunner

    from volviz.cli.main import cli

    for i in range(2):
        shard(tmp_path / f"s{i}.h5", 4 * i, 4)
    out = tmp_path / "m.h5"
    runner = CliRunner()
    steps = [
        ["dataset", "merge", str(tmp_path / "s0.h5"), str(tmp_path / "s1.h5"), "-o", str(out)],
        ["dataset", "stats", str(out), "--top-k", "2"],
        ["dataset", "order", str(out), "--layer", "a", "--method", "spectral", "--label", "x"],
    ]
    for args in steps:
        result = runner.invoke(cli, ["-q", *args])
        assert result.exit_code == 0, result.output
    with Store(out) as store:
        stats = read_stats(store, "activations", "b")
        assert stats["count"].tolist() == [4, 4, 8]
        assert store.ordering("a", "spectral-mean").metrics["n_items"] == 3
    bad = runner.invoke(cli, ["dataset", "order", str(out), "--layer", "a", "--label", "z"])
    assert bad.exit_code == 1 and "--label 'z' is not aggregated" in bad.output


def test_truncated_shard_is_one_clear_error_naming_it(tmp_path):
    from click.testing import CliRunner

    from volviz.cli.main import cli

    shard(tmp_path / "s0.h5", 0, 2)
    shard(tmp_path / "s1.h5", 2, 2)
    out = merge_shards([tmp_path / "s0.h5", tmp_path / "s1.h5"], tmp_path / "m.h5")
    data = (tmp_path / "s1.h5").read_bytes()
    (tmp_path / "s1.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match=r"shard 's1.h5' of m.h5 is truncated or damaged \("):
        Store(out)
    assert validate(out)[0].startswith("shard 's1.h5' of m.h5 is truncated or damaged")
    runner = CliRunner()
    for args in (
        ["export", str(out), "--layer", "a", "--image", "3", "-o", str(tmp_path / "v.npy")],
        ["dataset", "stats", str(out)],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, result.output
        errors = [line for line in result.output.splitlines() if "rror" in line]
        assert len(errors) == 1 and errors[0].startswith("Error: shard 's1.h5' of m.h5 is trunc")
    assert not (tmp_path / "v.npy").exists()
