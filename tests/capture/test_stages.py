"""Post-activation stage: found in the fx graph, stored beside (or instead of) raw outputs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from volviz.capture.extract import capture
from volviz.capture.hooks import eval_mode
from volviz.capture.stages import parse_stages, split_key, staged_outputs
from volviz.errors import InputError
from volviz.store import Store


class ConvBnRelu6(nn.Module):
    """1x1 conv (1 -> 2) -> BN (eps 0) -> ReLU6 -> 1x1 conv (2 -> 1): ch0 = relu6(x - 1),
    ch1 = relu6(1.5 - 2x) exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.bn = nn.BatchNorm2d(2, eps=0.0)
        self.act = nn.ReLU6()
        self.head = nn.Conv2d(2, 1, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, -2.0]).reshape(2, 1, 1, 1))
            self.conv.bias.copy_(torch.tensor([0.0, 1.0]))
            self.bn.running_mean.copy_(torch.tensor([1.0, 0.0]))
            self.bn.running_var.copy_(torch.tensor([4.0, 1.0]))
            self.bn.weight.copy_(torch.tensor([2.0, 1.0]))
            self.bn.bias.copy_(torch.tensor([0.0, 0.5]))
            self.head.weight.copy_(torch.tensor([1.0, 1.0]).reshape(1, 2, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.bn(self.conv(x)))).mean(dim=(2, 3))


class Residual(nn.Module):
    """conv -> F.relu (functional) -> conv -> add(input) -> relu_ (method, in place);
    conv ``split`` feeds two branches, so its raw output is what the next layers receive."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 1, 1, bias=False)
        self.b = nn.Conv2d(1, 1, 1, bias=False)
        self.split = nn.Conv2d(1, 1, 1, bias=False)
        with torch.no_grad():
            self.a.weight.fill_(-1.0)
            self.b.weight.fill_(2.0)
            self.split.weight.fill_(3.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (self.b(F.relu(self.a(x))) + x).relu_()
        s = self.split(y)
        return s.sum() + s.mean() * torch.ones(1, 3)


X = torch.tensor([[[[-3.0, -1.0, 0.0, 1.0], [2.0, 3.0, 5.0, 8.0]]]])


def _stored(path: Any, key: str) -> tuple[np.ndarray, dict[str, Any]]:
    with Store(path) as store:
        return store.volume(key, 0), dict(store.layer_group(key).attrs)


def test_conv_bn_relu6_post_stage_is_exact_and_recorded(tmp_path):
    out = capture(ConvBnRelu6(), X, tmp_path / "s.h5", layers=["conv"], stage="both")
    x = X[0, 0].numpy()
    want = np.stack([np.clip(x - 1, 0, 6), np.clip(1.5 - 2 * x, 0, 6)]).astype(np.float32)
    with Store(out) as store:
        assert store.layers == ["conv", "conv+post", "head", "head+post"]
        assert json.loads(store.file.attrs["stages"]) == {"conv": "both", "head": "both"}
    raw, raw_attrs = _stored(out, "conv")
    np.testing.assert_array_equal(raw, np.stack([x, 1 - 2 * x]))
    assert raw_attrs["stage"] == "pre"
    post, attrs = _stored(out, "conv+post")
    np.testing.assert_array_equal(post, want)
    assert attrs["stage"] == "post"
    assert attrs["post_of"] == "conv"
    assert attrs["module"] == "conv"
    assert json.loads(attrs["post_chain"]) == ["bn", "act"]
    assert attrs["post_activation"] == "ReLU6"
    # head's output feeds a mean (not element-wise): post is the raw output itself.
    head, head_attrs = _stored(out, "head+post")
    np.testing.assert_array_equal(head, want.sum(axis=0, keepdims=True))
    assert json.loads(head_attrs["post_chain"]) == []
    assert head_attrs["post_activation"] == "none"


def test_inplace_relu_post_stage_and_raw_output_both_exact(tiny, tiny_input, tmp_path):
    out = capture(tiny, tiny_input, tmp_path / "t.h5", layers=["conv1"], stage="both")
    v = tiny_input[:, 0].numpy()  # conv1 by hand: x[i,j] - x[i+1,j+1]; mean of 2x2 * 2 - 1
    ch0 = v[:, :-1, :-1] - v[:, 1:, 1:]
    ch1 = 0.5 * (v[:, :-1, :-1] + v[:, :-1, 1:] + v[:, 1:, :-1] + v[:, 1:, 1:]) - 1.0
    want = np.stack([ch0, ch1], axis=1).astype(np.float32)
    with Store(out) as store:
        for i in range(2):
            np.testing.assert_array_equal(store.volume("conv1", i), want[i])
            np.testing.assert_array_equal(store.volume("conv1+post", i), np.maximum(want[i], 0))
        assert store.volume("conv1", 1).min() < 0  # the in-place ReLU did not reach it
        attrs = store.layer_group("conv1+post").attrs
        assert json.loads(attrs["post_chain"]) == ["relu"]
        logits = store.predictions()["logits"]
    with torch.no_grad():
        np.testing.assert_array_equal(logits, tiny(tiny_input).numpy())


def test_functional_relu_residual_add_and_inplace_method_are_followed(tmp_path):
    out = capture(Residual(), X, tmp_path / "r.h5", layers=["conv"], stage="post")
    x = X[0, 0].numpy()
    y = np.maximum(2 * np.maximum(-x, 0) + x, 0)
    with Store(out) as store:
        assert store.layers == ["a+post", "b+post", "split+post"]
        np.testing.assert_array_equal(store.volume("a+post")[0], np.maximum(-x, 0))
        np.testing.assert_array_equal(store.volume("b+post")[0], y)
        np.testing.assert_array_equal(store.volume("split+post")[0], 3 * y)
        chains = {k: json.loads(store.layer_group(k).attrs["post_chain"]) for k in store.layers}
    assert chains == {"a+post": ["relu"], "b+post": ["add(+x)", "relu"], "split+post": []}


def test_staged_outputs_removes_hooks_also_on_error(tiny, tiny_input):
    with (
        pytest.raises(RuntimeError, match="boom"),
        staged_outputs(tiny, {"conv1": "both", "conv2": "pre"}) as (run, outputs, _),
    ):
        run(tiny_input)
        assert list(outputs) == ["conv1", "conv1+post", "conv2"]
        raise RuntimeError("boom")
    for module in tiny.modules():
        assert not module._forward_hooks
        assert not module._forward_pre_hooks


def test_stage_specs_and_their_errors():
    names = ["a", "b"]
    assert parse_stages("post", names) == {"a": "post", "b": "post"}
    assert parse_stages("post,b=both", names) == {"a": "post", "b": "both"}
    assert parse_stages({"b": "post"}, names) == {"a": "pre", "b": "post"}
    assert split_key("x.y@2+post") == ("x.y", 2, "post")
    with pytest.raises(InputError) as info:
        parse_stages("pre,b=after", names)
    assert str(info.value) == (
        "stage='pre,b=after': layer 'b' gets 'after', which is not one of pre, post, both"
    )
    with pytest.raises(InputError, match=r"^stage=\{'b': 'late'\}: layer 'b' gets 'late'"):
        parse_stages({"b": "late"}, names)
    with pytest.raises(InputError, match=r"^stage='late' is not one of pre, post, both"):
        parse_stages("late", names)
    with pytest.raises(InputError, match=r"^stage='pre,post' names more than one default"):
        parse_stages("pre,post", names)
    with pytest.raises(InputError, match=r"^stage='c=post' names 'c', which is not one of the"):
        parse_stages("c=post", names)


def test_untraceable_model_says_so_and_writes_nothing(tmp_path):
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return y if y.sum() > 0 else -y  # data-dependent control flow

    with pytest.raises(
        InputError,
        match=r"^stage='post': torch.fx cannot trace Branchy .*; capture stage='pre' instead$",
    ):
        capture(Branchy(), X, tmp_path / "b.h5", layers=["conv"], stage="post")
    assert not list(tmp_path.iterdir())


def _inputs_of(model: nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """What each named module receives (its first positional input), copied."""
    seen: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    handles = [
        modules[n].register_forward_pre_hook(
            lambda _m, args, n=n: seen.setdefault(n, args[0].detach().clone())
        )
        for n in names
    ]
    try:
        with eval_mode(model), torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


@pytest.mark.slow
def test_resnet18_post_is_what_the_next_block_receives():
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    x = torch.randn(1, 3, 64, 64)
    stages = {"layer1.0.conv1": "post", "layer1.0.conv2": "post", "layer2.0.downsample.0": "post"}
    with eval_mode(model), torch.no_grad(), staged_outputs(model, stages) as (run, out, info):
        logits = run(x)
    seen = _inputs_of(model, x, ["layer1.0.conv2", "layer1.1.conv1", "layer2.1.conv1"])
    torch.testing.assert_close(out["layer1.0.conv1+post"], seen["layer1.0.conv2"], rtol=0, atol=0)
    torch.testing.assert_close(out["layer1.0.conv2+post"], seen["layer1.1.conv1"], rtol=0, atol=0)
    down = out["layer2.0.downsample.0+post"]
    torch.testing.assert_close(down, seen["layer2.1.conv1"], rtol=0, atol=0)
    assert info["layer1.0.conv2+post"].chain == ["layer1.0.bn2", "add(+maxpool)", "layer1.0.relu@1"]
    assert info["layer2.0.downsample.0+post"].chain == [
        "layer2.0.downsample.1",
        "add(+layer2.0.bn2)",
        "layer2.0.relu@1",
    ]
    with eval_mode(model), torch.no_grad():
        torch.testing.assert_close(logits, model(x), rtol=0, atol=0)


@pytest.mark.slow
def test_efficientnet_post_stages_match_what_the_next_conv_receives(effnet):
    model = effnet.module
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    stages = {
        "_conv_stem": "both",
        "_blocks.0._project_conv": "post",
        "_blocks.2._project_conv": "post",
    }
    with eval_mode(model), torch.no_grad(), staged_outputs(model, stages) as (run, out, info):
        run(x)
    nxt = ["_blocks.0._depthwise_conv", "_blocks.1._expand_conv", "_blocks.3._expand_conv"]
    seen = _inputs_of(model, x, nxt)
    torch.testing.assert_close(out["_conv_stem+post"], seen[nxt[0]], rtol=0, atol=0)
    torch.testing.assert_close(out["_blocks.0._project_conv+post"], seen[nxt[1]], rtol=0, atol=0)
    torch.testing.assert_close(out["_blocks.2._project_conv+post"], seen[nxt[2]], rtol=0, atol=0)
    assert info["_conv_stem+post"].chain == ["_bn0", "_swish"]
    assert info["_conv_stem+post"].activation == "ReLU6"
    # A projection conv has no activation: BN, then the residual add of the block.
    assert info["_blocks.2._project_conv+post"].chain == ["_blocks.2._bn2", "add(+_blocks.1._bn2)"]
    assert info["_blocks.2._project_conv+post"].activation == "none"
    post = out["_conv_stem+post"]
    assert float(post.min()) == 0.0 and float(post.max()) <= 6.0
    assert float((out["_conv_stem"] < 0).float().mean()) > 0.2  # raw: many negatives


@pytest.mark.slow
def test_capture_command_stage_option(tmp_path):
    from click.testing import CliRunner

    from volviz.cli.main import cli

    out = tmp_path / "a.h5"
    args = ["capture", "sample:chelsea", "-o", str(out), "-m", "alexnet", "--layers"]
    result = CliRunner().invoke(cli, [*args, "features.0", "--stage", "post"])
    assert result.exit_code == 0, result.output
    with Store(out) as store:
        assert store.layers == ["features.0+post"]
        assert json.loads(store.layer_group("features.0+post").attrs["post_chain"]) == [
            "features.1"
        ]
        assert store.volume("features.0+post").min() == 0.0  # after alexnet's in-place ReLU
    bad = CliRunner().invoke(
        cli, [*args, "features.0", "-o", str(tmp_path / "b.h5"), "--stage", "late"]
    )
    assert (
        bad.exit_code != 0 and "Error: --stage 'late' is not one of pre, post, both" in bad.output
    )
    assert not (tmp_path / "b.h5").exists()
