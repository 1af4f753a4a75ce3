"""Checksums (Fletcher32 per chunk), fast compression and stale temporaries of stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from volviz.errors import StoreError
from volviz.store import Store, StoreWriter, validate
from volviz.store.compression import CODECS

ROOT = Path(__file__).resolve().parents[2]
ATTRS = {"model": "m", "created": "now", "volviz_version": "0"}
RECORDS = [{"source": f"f{i}", "name": f"img{i}", "label": "", "sha256": ""} for i in range(3)]


def arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    big = np.maximum(rng.normal(size=(3, 8, 32, 32)), 0).astype(np.float32)  # 32 KiB chunks
    return {"big": big, "odd": rng.normal(size=(3, 5, 3, 3)).astype(np.float32)}


@pytest.mark.parametrize("codec", [False, *CODECS])
def test_every_codec_stores_exact_checksummed_values(tmp_path: Path, codec: bool | str) -> None:
    data = arrays()
    with StoreWriter(tmp_path / "s.h5", attrs=ATTRS, compress=codec) as writer:
        writer.append(RECORDS, data)
    with Store(tmp_path / "s.h5") as store:
        for key, array in data.items():
            ds = store.activations(key)
            np.testing.assert_array_equal(ds[()], array)
            assert ds.fletcher32 and ds.attrs["compression"] == (codec or "none")
    assert validate(tmp_path / "s.h5") == []


def test_overwritten_bytes_are_caught_by_validate_and_reads(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    with StoreWriter(path, attrs=ATTRS) as writer:
        writer.append(RECORDS, arrays())
    with h5py.File(path, "r") as f:
        offset = f["layers/big/activations"].id.get_chunk_info(1).byte_offset
    with path.open("r+b") as handle:
        handle.seek(offset + 1000)
        handle.write(np.random.default_rng(2).bytes(4000))
    problems = validate(path)
    assert len(problems) == 1
    assert problems[0].startswith("/layers/big/activations cannot be read")
    assert "images 1:2: damaged, its checksum" in problems[0]
    with Store(path) as store:
        with pytest.raises(OSError, match="filter returned failure"):
            store.activations("big")[1]
        with pytest.raises(StoreError, match="layer 'big' image 1 cannot be read"):
            store.volume("big", 1)
        np.testing.assert_array_equal(store.volume("big", 0), arrays()["big"][0])
    from click.testing import CliRunner

    from volviz.cli.main import cli

    args = ["export", str(path), "--layer", "big", "--image", "1", "-o", str(tmp_path / "v.npy")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: a store read failed: its data is damaged")
    assert not (tmp_path / "v.npy").exists()


@pytest.mark.parametrize(
    ("codec", "merged"),
    [("blosc-lz4", False), ("blosc2-lz4", False), ("blosc-zstd", True)],
    ids=["blosc", "blosc2", "merged-store"],
)
def test_a_reader_without_hdf5plugin_is_told_to_install_it(
    tmp_path: Path, codec: str, merged: bool
) -> None:
    from volviz.store.shards import merge_shards

    with StoreWriter(tmp_path / "s.h5", attrs=ATTRS, compress=codec) as writer:
        writer.append(RECORDS, arrays())
    path = merge_shards([tmp_path / "s.h5"], tmp_path / "m.h5") if merged else tmp_path / "s.h5"
    with Store(path) as store:  # with the plugin (this process): exact values
        np.testing.assert_array_equal(store.activations("big")[()], arrays()["big"])
    code = (
        "import sys; sys.modules['hdf5plugin'] = None\n"
        "from volviz.store import Store\n"
        f"Store({str(path)!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HDF5_PLUGIN_PATH": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 1
    assert f"is compressed with {codec}; reading it needs the hdf5plugin package" in run.stderr
    with pytest.raises(StoreError, match="compress='lzf' is not one of none, gzip, blosc-lz4"):
        StoreWriter(tmp_path / "t.h5", compress="lzf")


def test_a_writer_without_hdf5plugin_names_compress(tmp_path: Path, monkeypatch) -> None:
    """``compress='blosc2-lz4'`` from Python, ``--compress 'blosc2-lz4'`` in the CLI."""
    from tests.helpers import error_line, run_cli
    from volviz.store.compression import dataset_filters

    monkeypatch.setitem(sys.modules, "hdf5plugin", None)
    with pytest.raises(StoreError, match=r"^compress='blosc2-lz4' needs the hdf5plugin package"):
        dataset_filters("blosc2-lz4")
    args = ["dataset", "capture", "imgs", "-o", tmp_path / "a.h5", "--compress", "blosc2-lz4"]
    line = error_line(run_cli(*args, ok=False))
    assert line.startswith("Error: --compress 'blosc2-lz4' needs the hdf5plugin package (pip")
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    stale = tmp_path / f".s.h5.tmp-{int(dead.stdout)}"
    live = tmp_path / f".s.h5.tmp-{os.getppid()}"
    other = tmp_path / f".t.h5.tmp-{int(dead.stdout)}"
    for path in (stale, live, other):
        path.write_bytes(b"half a store")
    with StoreWriter(tmp_path / "s.h5", attrs=ATTRS) as writer:
        writer.append(RECORDS, arrays())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["s.h5", live.name, other.name])
