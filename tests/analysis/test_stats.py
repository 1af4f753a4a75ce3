from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from tests.helpers import error_line
from volviz.analysis.stats import layer_stats
from volviz.cli.main import cli
from volviz.errors import VolvizError
from volviz.store import Store, StoreWriter
from volviz.store.analysis import load_stats


def hand_built() -> np.ndarray:
    """(N=3, C=4, H=2, W=3) activations with known statistics.

    channel 0: all zero (dead); channel 1: 1..18 (always on);
    channel 2: -1 everywhere except 9.0 at image 1, row 1, col 2 and 4.0 at image 2, (0, 0);
    channel 3: -2 x channel 1 (correlation -1 with it, never positive: dead too).
    """
    acts = np.zeros((3, 4, 2, 3), np.float32)
    acts[:, 1] = np.arange(1, 19, dtype=np.float32).reshape(3, 2, 3)
    acts[:, 2] = -1.0
    acts[1, 2, 1, 2] = 9.0
    acts[2, 2, 0, 0] = 4.0
    acts[:, 3] = -2.0 * acts[:, 1]
    return acts


def test_statistics_of_hand_built_activations():
    acts = hand_built()
    s = layer_stats(acts, "L", top_k=2)
    np.testing.assert_allclose(s.mean, [0.0, 9.5, (9 + 4 - 16) / 18, -19.0])
    np.testing.assert_allclose(s.std[1], np.std(np.arange(1, 19)))
    np.testing.assert_array_equal(s.dead, [0, 3])
    np.testing.assert_array_equal(s.always_on, [1])
    np.testing.assert_allclose(s.fraction_positive, [0, 1, 2 / 18, 0])
    assert s.sparsity == pytest.approx(1 - (1 + 2 / 18) / 4)
    # channel 2 peaks at image 1 (9.0 at row 1, col 2), then image 2 (4.0 at row 0, col 0)
    np.testing.assert_array_equal(s.top_image[2], [1, 2])
    np.testing.assert_array_equal(s.top_row[2], [1, 0])
    np.testing.assert_array_equal(s.top_col[2], [2, 0])
    np.testing.assert_array_equal(s.top_value[2], [9.0, 4.0])
    np.testing.assert_array_equal(s.top_image[1], [2, 1])  # 18 on image 2, 12 on image 1
    assert s.correlation[1, 3] == pytest.approx(-1.0)
    assert s.correlation[0, 1] == 0.0 and s.correlation[0, 0] == 1.0  # constant channel
    want = np.corrcoef(acts[:, 1:3].transpose(1, 0, 2, 3).reshape(2, -1))[0, 1]
    assert s.correlation[1, 2] == pytest.approx(want, rel=1e-5)
    assert sorted(s.correlation_order.tolist()) == [0, 1, 2, 3]


def test_bad_layers_are_clear_errors():
    with pytest.raises(VolvizError, match=r"shape \(0, 4, 2, 3\)"):
        layer_stats(np.zeros((0, 4, 2, 3)), "L")
    bad = hand_built()
    bad[1, 1, 0, 0] = np.nan
    with pytest.raises(VolvizError, match="image 1 holds NaN"):
        layer_stats(bad, "L")
    with pytest.raises(VolvizError, match=r"^top_k=0 must be at least 1$"):
        layer_stats(hand_built(), "L", top_k=0)


def test_analyze_command_stores_and_summarizes(tmp_path):
    path = tmp_path / "s.h5"
    records = [{"source": "x", "name": f"im{i}", "label": "", "sha256": ""} for i in range(3)]
    attrs = {"model": "m", "created": "now", "volviz_version": "0"}
    with StoreWriter(path, attrs=attrs) as writer:
        writer.append(records, {"conv": hand_built()})
    result = CliRunner().invoke(cli, ["analyze", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "conv" in result.output and "1 on im2 (18)" in result.output and "72.2%" in result.output
    with Store(path) as store:
        stored = load_stats(store, "conv")
    np.testing.assert_array_equal(stored.top_image[2], [1, 2, 0])
    assert stored.n_images == 3
    again = CliRunner().invoke(cli, ["analyze", str(path)])
    assert again.exit_code == 1 and "pass --force" in again.output
    zero = CliRunner().invoke(cli, ["analyze", str(path), "--top-k", "0", "--force"])
    assert error_line(zero) == "Error: --top-k 0 must be at least 1"


def test_analyze_uses_post_activation_keys_and_names_the_stage(tmp_path):
    """conv -> BN -> ReLU6 by hand: ch0 = relu6(x - 1), ch1 = relu6(1.5 - 2x)."""
    import torch
    from torch import nn

    from volviz.analysis.stats import describe_stage, prefer_post
    from volviz.capture.extract import capture

    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2, eps=0.0), nn.ReLU6())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([1.0, -2.0]).reshape(2, 1, 1, 1))
        model[0].bias.copy_(torch.tensor([0.0, 1.0]))
        model[1].running_mean.copy_(torch.tensor([1.0, 0.0]))
        model[1].running_var.copy_(torch.tensor([4.0, 1.0]))
        model[1].weight.copy_(torch.tensor([2.0, 1.0]))
        model[1].bias.copy_(torch.tensor([0.0, 0.5]))
    # Raw conv: ch0 = x, ch1 = 1 - 2x; x = 0.25 is where BN + ReLU6 change the verdicts.
    x = torch.tensor([[[[2.0, 3.0, 4.0, 0.25]]]])
    path = capture(model, x, tmp_path / "p.h5", layers=["0"], stage="both")
    result = CliRunner().invoke(cli, ["analyze", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "0+post" in result.output and "post: after 1 -> 2 (ReLU6)" in result.output
    with Store(path) as store:
        assert prefer_post(store.layers) == ["0+post"]
        post = load_stats(store, "0+post")
        assert describe_stage(store.layer_group("0").attrs) == "pre: raw output of the module"
        raw = layer_stats(store.activations("0"), "0")
    # post ch0 = [1, 2, 3, 0] (relu6(-0.75) = 0), ch1 = [0, 0, 0, 1] (1.5 - 0.5 = 1)
    np.testing.assert_array_equal(post.fraction_positive, [0.75, 0.25])
    assert post.sparsity == 0.5
    assert post.dead.tolist() == [] and post.always_on.tolist() == []
    # the raw conv output calls channel 0 always on (x > 0 everywhere): BN + ReLU6 zero it once
    assert raw.always_on.tolist() == [0] and raw.fraction_positive.tolist() == [1.0, 0.25]
