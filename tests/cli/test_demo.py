from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.report.outline import load_baseline, missing_from, report_outline
from volviz.cli.main import cli
from volviz.store import Store, validate


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, needs_gl):
    out = tmp_path / "demo"
    # One run, quiet (-q after the subcommand): it prints nothing at all.
    result = CliRunner().invoke(cli, ["demo", "-q", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0 and result.output == "", result.output
    store_path = out / "demo.h5"
    assert validate(store_path) == []
    with Store(store_path) as store:
        assert len(store.layers) == 50  # 49 convs' post-activations + the stem's raw output
        assert store.layers[:2] == ["_conv_stem", "_conv_stem+post"]
        assert store.volume("_conv_stem+post", 0).min() == 0.0  # after ReLU6
        assert "gradients" in store.file and "attributions" in store.file
        names = [r["name"] for r in store.inputs]
        top1 = dict(zip(names, store.predictions()["top_index"][:, 0].tolist(), strict=True))
        assert top1["chelsea"] in {281, 282, 285}
        assert top1["coffee"] == 967
    for name in names:
        pixels = np.asarray(Image.open(out / f"{name}_conv_stem.png").convert("L"), dtype=float)
        assert pixels.std() > 10
    report = (out / "report" / "index.html").read_text()
    assert "_conv_stem" in report and "_conv_head" in report and "espresso" in report
    assert "Weight gradients" in report and "Attributions" in report
    assert "Filter importance and pruning check" in report and "top-1" in report
    assert "interactive 3D page" in report
    # Every section, picture and link the report held before it went parallel (issue 19).
    assert missing_from(load_baseline("demo_store"), report_outline(report)) == []
    for name in re.findall(r"(?:src|href)=[\"']([^\"']+)", report):
        assert (out / "report" / name).is_file(), name
    # The top-5 table the demo prints (without -q) is `volviz info`'s.
    shown = CliRunner().invoke(cli, ["info", str(store_path)])
    assert shown.exit_code == 0 and "espresso" in shown.output and "chelsea" in shown.output
    again = CliRunner().invoke(cli, ["-q", "demo", "--out", str(out)])
    assert again.exit_code == 1 and "exists; pass --force" in again.output
