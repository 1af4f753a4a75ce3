from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from PIL import Image

from volviz.cli.main import cli
from volviz.store import Store, validate


def test_demo_end_to_end(tmp_path, needs_gl):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "espresso" in result.output and "valid" in result.output
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
    again = CliRunner().invoke(cli, ["-q", "demo", "--out", str(out)])
    assert again.exit_code == 1 and "exists; pass --force" in again.output
    quiet = CliRunner().invoke(cli, ["-q", "demo", "--out", str(out), "--force"])
    assert quiet.exit_code == 0 and quiet.output == ""
