from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from volviz.capture.attribution import (
    AttributionError,
    clip_percentile,
    gradcam,
    occlusion,
    saliency,
    window_starts,
)
from volviz.capture.maximize import AscentParams, gaussian_blur, maximize
from volviz.capture.targets import Target
from volviz.errors import LayerNotFoundError


class CamNet(nn.Module):
    """1x1 conv (1 -> 2 channels) -> in-place ReLU -> global mean -> linear (2 -> 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
            self.fc.weight.copy_(torch.tensor([[2.0, 1.0], [-1.0, 3.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.conv(x)).mean(dim=(2, 3)))


def test_gradcam_matches_hand_computation():
    x = torch.tensor([[[[1.0, -2.0, 3.0], [0.5, -1.0, 2.0]]]])  # (1, 1, 2, 3), non-square
    model = CamNet()
    # A_0 = x, A_1 = -x (pre-ReLU: the in-place ReLU must not change what Grad-CAM reads).
    a = np.stack([x[0, 0].numpy(), -x[0, 0].numpy()])
    for cls in (0, 1):
        w = model.fc.weight[cls].detach().numpy()
        # dS/dA_k = w_k / 6 where A_k > 0 (ReLU), else 0; alpha_k = mean over positions.
        alpha = np.array([(w[k] / 6) * (a[k] > 0).mean() for k in range(2)])
        expected = np.maximum((alpha[:, None, None] * a).sum(0), 0)
        result = gradcam(model, x, "conv", Target((cls,), "logit"))
        np.testing.assert_allclose(result["layer_maps"][0], expected, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(result["maps"][0], expected, rtol=1e-6, atol=1e-7)
        assert result["class_index"].tolist() == [cls]
    assert all(not m._forward_hooks for m in model.modules())


def test_gradcam_upsamples_to_the_input_and_rejects_unknown_layers(tiny, tiny_input):
    result = gradcam(tiny, tiny_input, "conv1", Target((0,), "logit"))
    assert result["maps"].shape == (2, 3, 4) and result["layer_maps"].shape == (2, 2, 3)
    assert (result["maps"] >= 0).all()
    with pytest.raises(LayerNotFoundError, match="did you mean conv1"):
        gradcam(tiny, tiny_input, "convv1", Target((0,), "logit"))
    assert all(not m._forward_hooks for m in tiny.modules())


class Spot(nn.Module):
    """Class 0's logit is 8 x the mean of the pixels in rows 8..11, columns 4..7."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = 8 * x[:, :, 8:12, 4:8].mean(dim=(1, 2, 3))
        return torch.stack([score, torch.zeros_like(score)], dim=1)


def test_occlusion_finds_the_region_the_model_looks_at():
    x = torch.zeros(1, 3, 16, 20)
    x[:, :, 8:12, 4:8] = 1.0
    prob = Target((0,), "probability")
    single = occlusion(Spot(), x, prob, window=4, stride=2, batch_size=1)
    batched = occlusion(Spot(), x, prob, window=4, stride=2, batch_size=7)
    np.testing.assert_allclose(single["maps"], batched["maps"], atol=1e-6)
    base = 1 / (1 + np.exp(-8.0))
    assert single["base_score"][0] == pytest.approx(base, rel=1e-5)
    m = single["maps"][0]
    assert m[8:12, 4:8].min() > 0.1
    outside = np.ones_like(m, dtype=bool)
    outside[5:15, 1:11] = False  # windows touching the spot reach at most 3 pixels out
    np.testing.assert_allclose(m[outside], 0, atol=1e-6)
    # The window exactly on the spot drops the probability to 1/2; pixels average windows.
    assert 0.1 < m.max() <= base - 0.5 + 1e-6
    assert single["clipped"].shape == m[None].shape


def test_occlusion_measures_the_score_asked_for():
    """The logit of class 0 is 8 x the spot's mean: a 4x4 window on the spot drops it by 8,
    one covering a quarter of it by 2; each pixel averages the windows covering it."""
    x = torch.zeros(1, 3, 16, 20)
    x[:, :, 8:12, 4:8] = 1.0
    logit = occlusion(Spot(), x, Target((0,), "logit"), window=4, stride=4)
    assert logit["base_score"][0] == pytest.approx(8.0)
    # stride = window: windows tile the image, each pixel is covered once.
    np.testing.assert_allclose(logit["maps"][0][8:12, 4:8], 8.0, rtol=1e-6)
    assert logit["maps"][0].sum() == pytest.approx(8.0 * 16, rel=1e-6)
    log_p = occlusion(Spot(), x, Target((0,), "log_softmax"), window=4, stride=4)
    want = np.log(1 / (1 + np.exp(-8.0))) - np.log(0.5)  # log p before minus after
    np.testing.assert_allclose(log_p["maps"][0][8:12, 4:8], want, rtol=1e-5)


def test_occlusion_refuses_a_stride_that_skips_pixels():
    x = torch.zeros(1, 3, 16, 20)
    with pytest.raises(ValueError, match=r"^stride=5 is larger than window=4: pixels between"):
        occlusion(Spot(), x, Target((0,), "logit"), window=4, stride=5)


def test_window_positions_cover_the_edges():
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(11, 4, 3) == [0, 3, 6, 7]
    assert window_starts(4, 4, 2) == [0]


def test_clip_percentile():
    v = np.arange(101, dtype=np.float64)
    np.testing.assert_allclose(clip_percentile(v, 90)[[0, 50, 100]], [10, 50, 90])


class Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, 3, 5, 6, generator=torch.Generator().manual_seed(0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nchw,kchw->nk", x, self.w)


def test_saliency_of_a_linear_model_is_its_weights_and_smoothgrad_agrees():
    model = Linear()
    x = torch.randn(2, 3, 5, 6, generator=torch.Generator().manual_seed(2))
    target = Target((1,), "logit")
    vanilla = saliency(model, x, target)
    w = model.w[1].detach().numpy()
    np.testing.assert_allclose(vanilla["gradients"][0], w, rtol=1e-6)
    np.testing.assert_allclose(vanilla["maps"][1], np.abs(w).max(0), rtol=1e-6)
    smooth = saliency(model, x, target, samples=5, noise=0.3, batch_size=2, seed=3)
    np.testing.assert_allclose(smooth["maps"], vanilla["maps"], rtol=1e-5)
    signed = saliency(model, x, target, absolute=False, channels="mean")
    np.testing.assert_allclose(signed["maps"][0], w.mean(0), rtol=1e-5, atol=1e-7)


def test_smoothgrad_is_seeded(tiny, tiny_input):
    target = Target((0,), "logit")
    one = saliency(tiny, tiny_input, target, samples=4, noise=0.5, seed=1)
    two = saliency(tiny, tiny_input, target, samples=4, noise=0.5, seed=1)
    np.testing.assert_array_equal(one["maps"], two["maps"])


def test_attribution_parameters_are_checked(tiny, tiny_input):
    target = Target((0,), "logit")
    with pytest.raises(AttributionError, match=r"^window=9 must be in"):
        occlusion(tiny, tiny_input, target, window=9)
    with pytest.raises(AttributionError, match=r"^channels='median' is not one of"):
        saliency(tiny, tiny_input, target, channels="median")
    with pytest.raises(AttributionError, match=r"^samples=-1 must be"):
        saliency(tiny, tiny_input, target, samples=-1)


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.relu(self.conv1(x)))
        return self.fc(y.mean(dim=(2, 3)))


@pytest.mark.parametrize("objective", [{"layer": "conv2", "channel": 1}, {"class_index": 2}])
def test_maximization_increases_the_objective(objective):
    model = Small()
    params = AscentParams(steps=40, step=0.02, l2=0.0, seed=0)
    result = maximize(model, shape=(3, 12, 12), params=params, **objective)
    h = result["history"]
    assert len(h) == 40
    assert h[-10:].mean() > h[:10].mean()
    assert (np.diff(h) > 0).mean() >= 0.9
    assert all(not m._forward_hooks for m in model.modules())


def test_maximization_from_an_image_is_seeded_and_reports_the_change():
    model = Small()
    start = torch.randn(3, 10, 10, generator=torch.Generator().manual_seed(4))
    params = AscentParams(steps=5, jitter=2, tv=0.1, blur_every=2, seed=7)
    one = maximize(model, layer="conv1", channel=0, start=start, params=params)
    two = maximize(model, layer="conv1", channel=0, start=start, params=params)
    np.testing.assert_array_equal(one["image"], two["image"])
    np.testing.assert_allclose(one["delta"], one["image"] - start.numpy(), atol=1e-6)
    np.testing.assert_array_equal(one["start"], start.numpy())
    bounds = (torch.full((3, 1, 1), -0.5), torch.full((3, 1, 1), 0.5))
    clamped = maximize(model, layer="conv1", channel=0, start=start, params=params, bounds=bounds)
    assert clamped["image"].min() >= -0.5 and clamped["image"].max() <= 0.5


def test_maximization_errors_leave_no_hooks():
    model = Small()
    with pytest.raises(AttributionError, match=r"^channel=9 is out of range"):
        maximize(model, layer="conv1", channel=9, shape=(3, 8, 8))
    with pytest.raises(AttributionError, match=r"^steps=0 is out of range"):
        maximize(model, layer="conv1", channel=0, params=AscentParams(steps=0))
    with pytest.raises(AttributionError) as info:
        maximize(model)
    assert str(info.value) == "maximize needs an objective: layer with channel, or class_index"
    with pytest.raises(AttributionError) as info:
        maximize(model, layer="conv1", channel=0, class_index=1)
    assert str(info.value) == "class_index=1 and layer='conv1' are two objectives; give one of them"
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.slow
def test_gaussian_blur_keeps_constants_and_mass():
    x = torch.full((1, 2, 9, 9), 3.0)
    torch.testing.assert_close(gaussian_blur(x, 1.0), x)
    spike = torch.zeros(1, 1, 15, 15)
    spike[0, 0, 7, 7] = 1
    assert float(gaussian_blur(spike, 1.0).sum()) == pytest.approx(1.0, rel=1e-5)


def test_methods_are_parameter_objects_with_one_run_each(tiny, tiny_input):
    """The Python API of `volviz attribute`: the same numbers as the functions it wraps."""
    from volviz.capture.methods import GradCam, Maximize, Occlusion, attribute
    from volviz.capture.models import LoadedModel, Preprocess

    pre = Preprocess(4, 4, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "none")
    loaded = LoadedModel("tiny", tiny, pre, ["a", "b", "c"], "hand-set", None, None)
    target = Target((0,), "logit")
    cam = attribute(loaded, tiny_input, target, GradCam())  # None: the last conv
    want = gradcam(tiny, tiny_input, "conv2", target)
    np.testing.assert_array_equal(cam.arrays["maps"][0], want["maps"])
    assert (cam.name, cam.params["layer"], cam.arrays["maps"][1]) == (
        "gradcam-conv2-0",
        "conv2",
        ["sample", "y", "x"],
    )
    occ = attribute(loaded, tiny_input, target, Occlusion(window=2, stride=1))
    direct = occlusion(tiny, tiny_input, target, window=2, stride=1)
    np.testing.assert_array_equal(occ.arrays["maps"][0], direct["maps"])
    assert occ.params["value"] == "logit drop" and occ.params["stride"] == 1
    with pytest.raises(LayerNotFoundError, match=r"^layer='nope' matches no layer of TinyCNN"):
        attribute(loaded, tiny_input, target, GradCam("nope"))
    with pytest.raises(ValueError, match=r"^x holds no image: occlusion explains images"):
        attribute(loaded, tiny_input[:0], target, Occlusion())
    with pytest.raises(ValueError, match=r"^start='noise' takes no images$"):
        attribute(loaded, tiny_input, target, Maximize(layer="conv1", channel=0, start="noise"))
