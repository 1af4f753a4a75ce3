"""One mechanism for error words: Python parameter names in the API, option names in the CLI."""

from __future__ import annotations

import pickle
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import exporters
import ordering
from tests.helpers import error_line, run_cli
from volviz.capture.layers import resolve_layers
from volviz.cli.errors import KEY_VALUE, VolvizGroup, api_names
from volviz.errors import MISSING, InputError, LayerNotFoundError, StoreError


def test_python_words(tiny: torch.nn.Module, tmp_path: Path) -> None:
    from volviz.capture.extract import capture

    with pytest.raises(InputError) as info:
        capture(tiny, [torch.zeros(1, 4, 4)], tmp_path / "a.h5", layers=["conv1"], batch_size=0)
    assert str(info.value) == "batch_size=0 must be at least 1"
    assert (info.value.param, info.value.value) == ("batch_size", 0)
    with pytest.raises(LayerNotFoundError, match=r"^layers='nope' matches no layer of TinyCNN"):
        resolve_layers(tiny, ["nope"])
    names = InputError(
        "needs {layers}, not {scene}",
        param="scene",
        value="x",
        refs={"layers": MISSING, "scene": "x"},
    )
    assert str(names) == "scene='x' needs layers, not scene='x'"


def test_leaf_errors_speak_python(tmp_path: Path) -> None:
    volume = np.ones((2, 3, 4), np.float32)
    exporters.write_volume(tmp_path / "v.npy", volume)
    with pytest.raises(exporters.ExportError) as info:
        exporters.write_volume(tmp_path / "v.npy", volume)
    assert str(info.value) == (
        f"path={str(tmp_path / 'v.npy')!r} already exists; pass overwrite=True to replace it"
    )
    volume[1, 0, 0] = np.nan
    with pytest.raises(ordering.OrderingError) as err:
        ordering.fit_order(volume, "tsp")
    assert str(err.value) == "X: channel 1 contains NaN; feature maps must be finite"
    with pytest.raises(ordering.OrderingError, match=r"^metric='manhattan' is not one of"):
        ordering.fit_order(np.ones((3, 2, 2)), "tsp", metric="manhattan")


def test_errors_pickle_with_their_parameter() -> None:
    exc = pickle.loads(pickle.dumps(StoreError("is busy", param="path", value=Path("a.h5"))))
    assert (str(exc), exc.param) == ("path='a.h5' is busy", "path")
    leaf = pickle.loads(pickle.dumps(exporters.ExportError("bad", param="fmt", value="x")))
    assert str(leaf) == "fmt='x' bad"


@click.group(cls=VolvizGroup)
def group() -> None:
    """A group with one command whose options are named differently from the API."""


@group.group(cls=VolvizGroup)
def nested() -> None:
    """A nested group: errors name the options of its subcommand."""


@api_names(X=("npy", "layer"), size="count", **{KEY_VALUE: "param"})
@nested.command()
@click.option("--count", type=int, default=1)
@click.option("--npy", default=None)
@click.option("--layer", default=None)
@click.option("--force/--no-force", default=False)
@click.option("--param", multiple=True)
@click.option("--error", default="size")
def act(**kw: object) -> None:
    """Raise the error named by --error."""
    errors = {
        "size": InputError("must be at least 1", param="size", value=kw["count"]),
        "X": ordering.OrderingError(": channel 0 contains NaN", param="X"),
        "refs": exporters.ExportError(
            "exists; pass {overwrite}, not {force}, or {dry}",
            param="npy",
            value="v.npy",
            refs={"overwrite": True, "force": False, "dry": 1},
        ),
        "metric": ordering.OrderingError("is not known", param="metric", value="l1"),
        "unknown": InputError("is odd", param="other", value=[1, 2]),
        "plain": StoreError("a whole sentence"),
        "names": InputError(
            "nothing to show: give {X} or {size}, or {other}",
            refs={"X": MISSING, "size": MISSING, "other": MISSING},
        ),
    }
    raise errors[str(kw["error"])]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--count", "0"], "--count 0 must be at least 1"),
        (["--error", "X", "--layer", "conv1"], "--layer 'conv1': channel 0 contains NaN"),
        (["--error", "X", "--npy", "m.npy"], "--npy 'm.npy': channel 0 contains NaN"),
        (["--error", "X"], "--npy: channel 0 contains NaN"),
        (
            ["--error", "refs"],
            "--npy 'v.npy' exists; pass --force, not --no-force, or --param dry=1",
        ),
        (["--error", "metric"], "--param metric=l1 is not known"),
        (["--error", "unknown"], "--param other=1,2 is odd"),
        (["--error", "plain"], "a whole sentence"),
        (
            ["--error", "names", "--count", "3"],
            "nothing to show: give --npy or --count, or --param other",
        ),
    ],
)
def test_cli_names_the_option_the_value_came_from(args: list[str], line: str) -> None:
    result = CliRunner().invoke(group, ["nested", "act", *args])
    assert error_line(result) == f"Error: {line}"


@group.command()
def bare() -> None:
    """A command without declared names: unknown parameters stay in Python words."""
    raise InputError("is odd; pass {overwrite}", param="other", value=[1], refs={"overwrite": 1})


def test_unknown_names_stay_python() -> None:
    result = CliRunner().invoke(group, ["bare"])
    assert error_line(result) == "Error: other=[1] is odd; pass overwrite=1"


def test_volviz_cli_speaks_options(tmp_path: Path) -> None:
    volume = np.ones((3, 2, 2), np.float32)
    volume[0, 1, 1] = np.inf
    np.save(tmp_path / "v.npy", volume)
    result = run_cli("order", "--npy", tmp_path / "v.npy", ok=False)
    npy = str(tmp_path / "v.npy")
    line = f"Error: --npy {npy!r}: channel 0 contains inf; feature maps must be finite"
    assert error_line(result) == line
    np.save(tmp_path / "c.npy", np.stack([np.full((2, 2), 3.0), np.eye(2)]))
    result = run_cli("order", "--npy", tmp_path / "c.npy", "--param", "normalize=zscore", ok=False)
    assert "--param normalize=zscore is undefined for it" in error_line(result)
    assert "normalize='zscore'" not in result.output


def test_report_out_dir_speaks_python_and_options(tmp_path: Path) -> None:
    from volviz.errors import VolvizError
    from volviz.report.html import build_report

    with pytest.raises(VolvizError) as info:
        build_report(tmp_path / "s.h5", tmp_path, jobs=1)
    assert str(info.value) == f"out_dir={str(tmp_path)!r} exists; pass force=True to replace it"
    line = error_line(run_cli("report", tmp_path / "s.h5", "-o", tmp_path, "-j", 1, ok=False))
    assert line == f"Error: --out {str(tmp_path)!r} exists; pass --force to replace it"
    assert list(tmp_path.iterdir()) == []
