from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from volviz.capture.gradients import (
    GradientError,
    batched_supported,
    choose_strategy,
    weight_gradients,
)
from volviz.capture.importance import (
    compare_table,
    filter_importance,
    pruning_check,
    rank_filters,
    zeroed_filters,
)
from volviz.capture.targets import Target, TargetError, parse_target

STRATEGIES = ["loop", "batched", "vmap"]
LOGIT0 = Target((0,), "logit")


class StaticSame(nn.Conv2d):
    """EfficientNet's TF-style conv: pads in a ZeroPad2d child, then a padding-free conv."""

    def __init__(self, cin: int, cout: int, k: int, **kw) -> None:
        super().__init__(cin, cout, k, **kw)
        self.static_padding = nn.ZeroPad2d((0, 1, 0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.static_padding(x)
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class OddConvs(nn.Module):
    """Stride, zero/reflect/circular/'same' padding, dilation, groups, depthwise, static padding,
    an in-place op on a conv output, and a conv called twice (shared weights)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.b = StaticSame(4, 4, 3, stride=2, groups=4)
        self.c = nn.Conv2d(4, 6, 3, dilation=2, padding="same", padding_mode="reflect")
        self.d = nn.Conv2d(6, 6, 3, groups=2, padding=1, padding_mode="circular", bias=False)
        self.e = nn.Conv2d(6, 6, 1)
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x).tanh_()  # in place on the conv's output
        y = torch.tanh(self.b(y))
        y = torch.tanh(self.c(y))
        y = torch.tanh(self.d(y))
        y = self.e(torch.tanh(self.e(y)))  # shared weights: gradient sums both calls
        return self.fc(y.mean(dim=(2, 3)))


def finite_difference(model, x, layer, target, n_checks=24, eps=1e-6):
    weight = dict(model.named_modules())[layer].weight
    flat = weight.data.view(-1)
    picks = np.random.default_rng(0).choice(
        flat.numel(), min(n_checks, flat.numel()), replace=False
    )
    out = np.zeros((len(x), len(picks)))
    with torch.no_grad():
        for j, k in enumerate(picks):
            keep = flat[k].item()
            flat[k] = keep + eps
            up = target(model(x)).numpy()
            flat[k] = keep - eps
            down = target(model(x)).numpy()
            flat[k] = keep
            out[:, j] = (up - down) / (2 * eps)
    return picks, out


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("score", ["log_softmax", "logit"])
def test_per_image_gradients_match_float64_finite_differences(strategy, score):
    model = OddConvs().double().eval()
    x = torch.randn(2, 3, 13, 17, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    target = Target((1, 3), score)
    layers = ["a", "b", "c", "d", "e"]
    result = weight_gradients(model, x, layers, target, strategy=strategy)
    assert result.strategy == strategy
    for layer in layers:
        picks, fd = finite_difference(model, x, layer, target)
        got = result.per_image[layer].reshape(2, -1)[:, picks].astype(np.float64)
        rel = np.linalg.norm(got - fd) / np.linalg.norm(fd)
        assert rel <= 1e-4, (layer, rel)


def test_exact_gradients_of_tiny_cnn(tiny, tiny_input):
    # Image 0 is arange(12) as 3x4: conv1 channel 0 is -5 everywhere (ReLU kills it); channel 1
    # is 0.5 * (2x2 sum) - 1 > 0. Score = mean over 6 positions of 2 relu(a0) - relu(a1).
    for strategy in STRATEGIES:
        result = weight_gradients(
            tiny, tiny_input[:1], ["conv1", "conv2"], LOGIT0, strategy=strategy
        )
        w1 = result.per_image["conv1"][0]
        np.testing.assert_allclose(w1[0, 0], np.zeros((2, 2)), atol=1e-6)
        np.testing.assert_allclose(w1[1, 0], [[-3, -4], [-7, -8]], rtol=1e-6)
        np.testing.assert_allclose(result.per_image["conv2"][0, 0, :, 0, 0], [0, 10], rtol=1e-6)
        np.testing.assert_array_equal(result.class_index, [0])


def test_aggregates_need_no_per_image_step_and_match_sums(tiny, tiny_input):
    full = weight_gradients(tiny, tiny_input, ["conv1"], LOGIT0, strategy="loop")
    agg = weight_gradients(tiny, tiny_input, ["conv1"], LOGIT0, per_image=False)
    assert agg.per_image is None and agg.strategy == "aggregate"
    np.testing.assert_allclose(agg.sum["conv1"], full.per_image["conv1"].sum(0), rtol=1e-6)
    np.testing.assert_allclose(agg.mean["conv1"], full.sum["conv1"] / 2, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "layer", ["_conv_stem", "_blocks.1._depthwise_conv", "_blocks.1._project_conv"]
)
def test_strategies_agree_with_loop_on_efficientnet(effnet, layer):
    x = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    target = parse_target("pred")
    loop = weight_gradients(effnet.module, x, [layer], target, strategy="loop").per_image[layer]
    scale = np.abs(loop).max()
    for strategy in ("batched", "vmap"):
        other = weight_gradients(effnet.module, x, [layer], target, strategy=strategy)
        np.testing.assert_allclose(other.per_image[layer], loop, atol=2e-4 * scale, rtol=0)


def test_model_state_is_left_as_it_was(tiny, tiny_input):
    tiny.train()
    tiny.conv2.training = False
    sentinel = torch.full_like(tiny.conv1.weight, 7.0)
    tiny.conv1.weight.grad = sentinel.clone()
    tiny.conv2.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    for strategy in ["auto", *STRATEGIES]:
        weight_gradients(tiny, tiny_input, ["conv1", "conv2"], LOGIT0, strategy=strategy)
    assert tiny.training and tiny.conv1.training and not tiny.conv2.training
    assert torch.equal(tiny.conv1.weight.grad, sentinel)
    assert tiny.conv2.weight.grad is None and not tiny.conv2.weight.requires_grad
    for key, value in tiny.state_dict().items():
        assert torch.equal(value, before[key])
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in tiny.modules())


def test_hooks_are_removed_after_an_error(tiny, tiny_input):
    with pytest.raises(TargetError, match="only 3 classes"):
        weight_gradients(tiny, tiny_input, ["conv1"], Target((5,), "logit"), strategy="batched")
    assert all(not m._forward_hooks for m in tiny.modules())
    assert tiny.conv1.weight.requires_grad


def test_auto_rule():
    small_weights = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.LazyLinear(2))
    big_weights = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 6 * 6, 4000))
    x = torch.randn(4, 3, 8, 8)
    small_weights(x)
    mods = {"0": small_weights[0]}
    assert choose_strategy(small_weights, x, mods, act_bytes=10**9) == "loop"
    assert choose_strategy(big_weights, x, {"0": big_weights[0]}, act_bytes=1000) == "batched"
    assert choose_strategy(big_weights, x[:1], {"0": big_weights[0]}, act_bytes=1000) == "loop"

    class Custom(nn.Conv2d):
        def forward(self, x):
            return super().forward(x) * 2

    assert not batched_supported(Custom(3, 3, 1)) and batched_supported(StaticSame(3, 3, 1))
    assert not batched_supported(nn.Linear(2, 2))


def test_bad_strategy_and_layer(tiny, tiny_input):
    with pytest.raises(GradientError, match="strategy='fast'"):
        weight_gradients(tiny, tiny_input, ["conv1"], LOGIT0, strategy="fast")
    with pytest.raises(GradientError, match=r"^layers name no 2-D conv layer .*: relu \(ReLU\)"):
        weight_gradients(tiny, tiny_input, ["relu"], LOGIT0)
    with pytest.raises(KeyError, match="did you mean conv1"):
        weight_gradients(tiny, tiny_input, ["conv_1"], LOGIT0)

    class Doubled(nn.Conv2d):
        def forward(self, x):
            return super().forward(x) * 2

    doubled = nn.Sequential(Doubled(3, 2, 1), nn.Flatten(), nn.Linear(2 * 4 * 4, 2))
    with pytest.raises(GradientError) as info:
        weight_gradients(doubled, torch.randn(2, 3, 4, 4), ["0"], LOGIT0, strategy="batched")
    assert str(info.value) == (
        "strategy='batched' cannot rebuild gradients of '0' (Doubled); use strategy='loop' "
        "or 'vmap'"
    )


def test_targets_by_name_set_and_errors():
    names = ["tabby", "tiger cat", "Pembroke", "Egyptian cat"]
    assert parse_target("pembroke", names).classes == (2,)
    assert parse_target("Tiger_Cat, 0", names).classes == (1, 0)
    assert parse_target(None).classes is None
    with pytest.raises(TargetError, match=r"'pembrok'.*did you mean 'Pembroke'"):
        parse_target("pembrok", names)
    with pytest.raises(TargetError, match="class index 9 is out of range"):
        parse_target("9", names)
    with pytest.raises(TargetError, match="score='prob'"):
        parse_target("1", names, score="prob")
    logits = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    log_p = logits.log_softmax(1)
    pair = parse_target("0,1", names)
    assert torch.allclose(pair(logits), torch.logsumexp(log_p[:, :2], 1))
    assert torch.allclose(Target((0, 1), "logit")(logits), torch.tensor([1.5]))
    assert torch.equal(parse_target("pred")(logits), log_p[:, 2])


def test_filter_importance_ranking_and_pruning_restores_weights(tiny, tiny_input):
    result = weight_gradients(tiny, tiny_input, ["conv1"], LOGIT0)
    scores = filter_importance(result.per_image["conv1"])
    expected = np.linalg.norm(result.per_image["conv1"].reshape(2, 2, -1), axis=2).mean(0)
    np.testing.assert_allclose(scores, expected)
    ranking = rank_filters(scores)
    assert ranking.tolist() == [1, 0]
    before = tiny.conv1.weight.detach().clone()
    rows = pruning_check(tiny, tiny_input, "conv1", LOGIT0, ranking, ks=[1])
    assert [r["removed"] for r in rows] == ["none", "top-1", "bottom-1"]
    assert torch.equal(tiny.conv1.weight, before)
    assert rows[1]["filters"] == [1] and rows[2]["filters"] == [0]
    with pytest.raises(RuntimeError), zeroed_filters(tiny.conv1, [0, 1]):
        assert float(tiny.conv1.weight.detach().abs().sum()) == 0
        raise RuntimeError
    assert torch.equal(tiny.conv1.weight, before)


def test_compare_table_values():
    a = np.ones((2, 1, 1, 2, 2))
    b = -2 * np.ones((1, 1, 1, 2, 2))
    table = compare_table({"a": a, "b": b}, {"a": a.mean(0), "b": b.mean(0)})
    assert table["roles"][0]["mean_image_norm"] == pytest.approx(2.0)
    pair = table["pairs"][0]
    assert pair["cosine"] == pytest.approx(-1.0)
    assert pair["image_norm_ratio"] == pytest.approx(0.5)
    assert pair["difference_norm"] == pytest.approx(6.0)


@pytest.mark.slow
def test_auto_takes_the_loop_for_efficientnet_stem_and_batches_late_layers(effnet):
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    target = Target(None, "logit")
    stem = weight_gradients(effnet.module, x, ["_conv_stem"], target)
    late = weight_gradients(effnet.module, x, ["_blocks.7._depthwise_conv"], target)
    assert (stem.strategy, late.strategy) == ("loop", "batched")
    loop = weight_gradients(
        effnet.module, x, ["_blocks.7._depthwise_conv"], target, strategy="loop"
    )
    scale = np.abs(loop.per_image["_blocks.7._depthwise_conv"]).max()
    np.testing.assert_allclose(
        late.per_image["_blocks.7._depthwise_conv"],
        loop.per_image["_blocks.7._depthwise_conv"],
        atol=2e-4 * scale,
    )
