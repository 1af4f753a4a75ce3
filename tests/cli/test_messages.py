"""Messages that tell the truth: checks before work, one Error line, -v/-q anywhere, Ctrl-C,
long tables cut to a screenful, every group of a store listed, numbers and paths printed."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from tests.helpers import error_line, run_cli
from volviz.cli.errors import VolvizGroup
from volviz.errors import StoreError
from volviz.store.writer import StoreWriter

ATTRS = {"model": "hand", "weights": "none", "seed": 0}


def small_store(path: Path, n: int, names: list[str] | None = None) -> Path:
    """``n`` images (labels x/y) of one layer "a" (3, 4, 5) with values i + channel."""
    names = names or [f"img{i}" for i in range(n)]
    records = [
        {"source": f"f{i}", "name": names[i], "label": "xy"[i % 2], "sha256": f"{i:064d}"}
        for i in range(n)
    ]
    a = np.arange(n, dtype=np.float32)[:, None, None, None] + np.arange(3)[:, None, None]
    a = np.broadcast_to(a, (n, 3, 4, 5)).astype(np.float32)
    logits = np.tile(np.arange(4, dtype=np.float32), (n, 1))
    with StoreWriter(path, attrs=ATTRS, class_names=["p", "q", "r", "s"]) as writer:
        writer.append(records, {"a": a}, logits)
    return path


def test_render_checks_out_before_any_work(tmp_path, monkeypatch):
    import volviz.render.build as build

    monkeypatch.setattr(build, "scene_model", lambda *a: pytest.fail("rendered in vain"))
    np.save(tmp_path / "v.npy", np.ones((2, 3, 4), np.float32))
    for suffix in (".png", ".gif", ".mp4", ".html"):
        out = tmp_path / "missing" / f"x{suffix}"
        line = error_line(run_cli("render", "--npy", tmp_path / "v.npy", "-o", out, ok=False))
        assert line == (
            f"Error: --out {str(out)!r}: folder {str(out.parent)!r} does not exist or is not "
            "writable"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.npy"]


def test_render_refuses_nan(tmp_path):
    volume = np.zeros((2, 3, 4), np.float32)
    volume[1, 2, 0] = np.nan
    np.save(tmp_path / "n.npy", volume)
    result = run_cli("render", "--npy", tmp_path / "n.npy", "-o", tmp_path / "n.png", ok=False)
    assert error_line(result) == (
        f"Error: --npy {str(tmp_path / 'n.npy')!r} contains NaN (1 non-finite voxels; the first "
        "at channel 1, row 2, column 0); only finite values can be drawn"
    )
    assert not (tmp_path / "n.png").exists()


def test_order_of_a_constant_volume(tmp_path):
    np.save(tmp_path / "c.npy", np.full((5, 2, 2), 3.0, np.float32))
    result = run_cli("order", "--npy", tmp_path / "c.npy")
    assert "order: 0 1 2 3 4" in result.output  # no shuffled order of identical maps
    assert "n/a" in result.output and "1.000" not in result.output  # 0 / 0 is no ratio


def test_quiet_and_verbose_after_the_subcommand(tmp_path):
    np.save(tmp_path / "v.npy", np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    loud = run_cli("order", "--npy", tmp_path / "v.npy")
    assert "order: " in loud.output
    assert "order: " not in run_cli("order", "--npy", tmp_path / "v.npy", "-q").output
    store = small_store(tmp_path / "s.h5", 2)
    result = run_cli("render", store, "--layer", "a", "-o", tmp_path / "a.html", "-v")
    page = (tmp_path / "a.html").absolute()
    assert f"wrote {page} ({page.stat().st_size:,} bytes)" in result.output
    assert "read the data and build the scene: " in result.output
    assert "render: " in result.output and " s in all" in result.output  # the whole command
    quiet = run_cli("render", store, "--layer", "a", "-o", tmp_path / "b.html", "-v", "-q")
    assert quiet.output == ""


def test_writer_outside_with_says_so(tmp_path):
    writer = StoreWriter(tmp_path / "w.h5")
    with pytest.raises(StoreError, match=r"is not open: append inside `with StoreWriter"):
        writer.append([{"name": "a"}], {"a": np.zeros((1, 1, 2, 2), np.float32)})


def test_ctrl_c_exits_130_and_names_resume():
    @click.group(cls=VolvizGroup)
    def group() -> None:
        """A group."""

    @group.command()
    @click.option("--resume", is_flag=True)
    def slow(resume: bool) -> None:
        raise KeyboardInterrupt

    @group.command()
    def other() -> None:
        raise KeyboardInterrupt

    result = CliRunner().invoke(group, ["slow"])
    assert result.exit_code == 130
    assert "run the same command with --resume" in result.output
    assert "Aborted" not in result.output
    assert CliRunner().invoke(group, ["other"]).output.strip() == "Interrupted"


def test_info_lists_every_group_and_cuts_long_tables(tmp_path):
    store = small_store(tmp_path / "s.h5", 40)
    run_cli("order", store, "--method", "tsp")
    text = run_cli("info", store).output
    assert "layers/a/orderings/tsp/order" in text and "(3,)" in text
    assert "predictions/logits" in text and "(40, 4)" in text
    assert "img14" in text and "img15" not in text and "img39" in text
    assert "21 more rows (-v shows all)" in text  # 15 first, 4 last
    assert "img20" in run_cli("info", store, "-v").output


def test_dataset_stats_checks_first(tmp_path, monkeypatch):
    import volviz.store.aggregates as aggregates

    store = small_store(tmp_path / "s.h5", 4)
    run_cli("-q", "dataset", "stats", store)
    monkeypatch.setattr(aggregates.ClassStats, "update", lambda *a: pytest.fail("work done"))
    line = error_line(run_cli("dataset", "stats", store, ok=False))
    assert line == "Error: --layer 'a' has activation aggregates in s.h5 already; pass --force"


def test_dataset_order_prints_a_rounded_ratio_and_the_path(tmp_path):
    store = small_store(tmp_path / "s.h5", 4)
    run_cli("-q", "dataset", "stats", store)
    text = run_cli("dataset", "order", store, "--layer", "a", "--method", "tsp").output
    assert f"stored /layers/a/orderings/tsp-mean in {store}" in text
    assert "(path / original: 1.000)" in text.replace("\n", "")  # channels 0, 1, 2 in a row


def test_an_ambiguous_image_name_is_refused(tmp_path):
    store = small_store(tmp_path / "s.h5", 3, names=["cat", "dog", "cat"])
    out = tmp_path / "x.png"
    line = error_line(
        run_cli("render", store, "--layer", "a", "--image", "cat", "-o", out, ok=False)
    )
    assert line == "Error: --image 'cat' names 2 images of s.h5 (0, 2): give an index"


def test_bands_without_clusters_are_reported(tmp_path):
    store = small_store(tmp_path / "s.h5", 2)
    run_cli("-q", "order", store, "--method", "tsp")
    args = ("render", store, "--layer", "a", "--ordering", "tsp", "-o", tmp_path / "o.html")
    result = run_cli(*args, "--gap", "2", "--bands")
    assert "Warning: ordering 'tsp' of layer 'a' (tsp) has no clusters" in result.output
    assert "Warning" not in run_cli(*args, "--force").output  # no --gap/--bands: nothing to say
