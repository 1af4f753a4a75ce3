from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from volviz.capture.extract import capture
from volviz.capture.hooks import capture_outputs, eval_mode
from volviz.store import Store


def expected_conv1(x: torch.Tensor) -> np.ndarray:
    """conv1 of TinyCNN written out by hand: ch0 = x[i,j] - x[i+1,j+1], ch1 = mean4*2 - 1."""
    v = x[:, 0].numpy().astype(np.float64)
    ch0 = v[:, :-1, :-1] - v[:, 1:, 1:]
    ch1 = 0.5 * (v[:, :-1, :-1] + v[:, :-1, 1:] + v[:, 1:, :-1] + v[:, 1:, 1:]) - 1.0
    return np.stack([ch0, ch1], axis=1)


def test_hand_set_weights_give_exact_activations_through_the_store(tiny, tiny_input, tmp_path):
    out = capture(tiny, tiny_input, tmp_path / "t.h5", layers=["conv1", "conv2"])
    want1 = expected_conv1(tiny_input)
    want2 = 2 * np.maximum(want1[:, 0], 0) - np.maximum(want1[:, 1], 0)
    with Store(out) as store:
        assert store.layers == ["conv1", "conv2"]
        assert store.activations("conv1").shape == (2, 2, 2, 3)
        for i in range(2):
            np.testing.assert_array_equal(store.volume("conv1", i), want1[i].astype(np.float32))
            np.testing.assert_array_equal(store.volume("conv2", i)[0], want2[i].astype(np.float32))
        # The in-place ReLU after conv1 must not have clipped what was captured.
        assert store.volume("conv1", 1).min() < 0
        logits = store.predictions()["logits"]
        np.testing.assert_allclose(logits[:, 0], want2.mean(axis=(1, 2)), rtol=1e-6)


def test_float16_store_holds_the_hand_set_activations_rounded_to_float16(tiny, tmp_path):
    # values that float16 keeps exactly, rounds (0.1, 1/3) and overflows (2e5 -> inf)
    x = torch.tensor([[[[0.1, 1 / 3, 2.0, 2e5], [4.0, -0.25, 7.0, 3.0], [1.0, 2.0, 3.0, 4.0]]]])
    out = capture(tiny, x, tmp_path / "h.h5", layers=["conv1"], dtype="float16")
    exact = expected_conv1(x)[0].astype(np.float32)
    with Store(out) as store:
        assert store.activations("conv1").dtype == np.float16
        got = store.volume("conv1", 0)
    with np.errstate(over="ignore"):  # the value beyond float16's range becomes inf
        want = exact.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(got, want)
    assert got[0, 0, 0] != exact[0, 0, 0]  # 0.1 - (-0.25) = 0.35, rounded to 0.3501
    assert np.isposinf(got[1, 0, 2]) and exact[1, 0, 2] > 65504  # beyond float16


def test_inplace_relu_does_not_change_captured_values(tiny, tiny_input):
    with capture_outputs(tiny, ["conv1"]) as outputs, torch.no_grad():
        tiny(tiny_input)
    np.testing.assert_array_equal(outputs["conv1"].numpy(), expected_conv1(tiny_input))


def test_on_output_gets_converted_copies_as_each_layer_runs(tiny, tiny_input):
    events: list[tuple[str, torch.Tensor | None]] = []
    tiny.conv2.register_forward_pre_hook(lambda *_: events.append(("conv2 starts", None)))
    record = lambda key, copy: events.append((key, copy))  # noqa: E731
    with (
        capture_outputs(tiny, ["conv1", "conv2"], dtype=torch.float16, on_output=record) as out,
        torch.no_grad(),
    ):
        tiny(tiny_input)
    assert [key for key, _ in events] == ["conv1", "conv2 starts", "conv2"]
    assert out == {}  # handed on, not kept
    conv1 = events[0][1]
    assert conv1 is not None and conv1.dtype == torch.float16
    # the copy was taken before the in-place ReLU
    np.testing.assert_array_equal(conv1.numpy(), expected_conv1(tiny_input).astype(np.float16))


def test_capture_writes_each_layer_while_the_forward_goes_on(tiny, tiny_input, tmp_path):
    """conv1's rows are handed to the writer before conv2 runs (a batch's writes overlap
    its own forward, so the last batch leaves only its last layer to write)."""
    from volviz.store.partial import ResumableWriter

    events: list[str] = []
    tiny.conv2.register_forward_pre_hook(lambda *_: events.append("conv2 starts"))
    add_layer = ResumableWriter.add_layer

    def logged(self, key, array, attrs=None):  # type: ignore[no-untyped-def]
        events.append(f"write {key}")
        add_layer(self, key, array, attrs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ResumableWriter, "add_layer", logged)
        out = capture(tiny, tiny_input, tmp_path / "t.h5", layers=["conv1", "conv2"])
    assert events == ["write conv1", "conv2 starts", "write conv2"]
    with Store(out) as store:
        np.testing.assert_array_equal(store.activations("conv1")[()], expected_conv1(tiny_input))


def test_hooks_removed_and_flags_restored_also_on_error(tiny, tiny_input):
    tiny.train()
    tiny.conv2.eval()
    flags = {n: m.training for n, m in tiny.named_modules()}
    with (
        pytest.raises(RuntimeError, match="boom"),
        eval_mode(tiny),
        capture_outputs(tiny, ["conv1", "conv2"]),
    ):
        assert not tiny.training
        assert len(tiny.conv1._forward_hooks) == 1
        raise RuntimeError("boom")
    assert {n: m.training for n, m in tiny.named_modules()} == flags
    for module in tiny.modules():
        assert not module._forward_hooks
        assert not module._forward_pre_hooks


def test_module_called_twice_keeps_both_calls():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.ReLU6()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.act(x) * -1.0 + 7.0)

    x = torch.tensor([[[[-1.0, 3.0, 9.0]]]])
    model = Twice()
    with capture_outputs(model, ["act"]) as outputs:
        model(x)
    np.testing.assert_array_equal(outputs["act"].numpy(), F.relu6(x).numpy())
    np.testing.assert_array_equal(outputs["act@1"].numpy(), [[[[6.0, 4.0, 1.0]]]])
