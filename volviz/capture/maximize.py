"""Activation maximization: gradient ascent on the input for a channel or a class logit.

Objective: the mean activation of one channel of a layer (the layer's raw output, read
before any in-place op downstream; the forward stops after that layer), or one class's
logit. Each step ascends the objective minus ``tv`` x total variation, with the gradient
scaled to unit mean magnitude, then applies L2 decay (``x *= 1 - l2``), every
``blur_every`` steps a Gaussian blur, and clamps ``x`` to the pixel range [0, 255] of the
preprocessing. ``jitter`` rolls the image by a random offset (up to that many pixels) before
each forward. The start is seeded noise around the mean colour, or a real image, in which
case ``delta`` (updated minus original) shows what the ascent added (cnn-viz's mode).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from volviz.capture.attribution import AttributionError, tap_output
from volviz.capture.hooks import eval_mode
from volviz.errors import MISSING

Progress = Callable[[int, int], None]


class _Stop(Exception):
    """Raised inside a forward hook once the layer's output is known."""


@dataclass(frozen=True)
class AscentParams:
    """Options of the gradient ascent (see the module docstring)."""

    steps: int = 100
    step: float = 0.05
    l2: float = 1e-4
    tv: float = 0.0
    jitter: int = 0
    blur_every: int = 0
    blur_sigma: float = 0.5
    seed: int = 0

    def check(self) -> None:
        for name, value, low in (
            ("steps", self.steps, 1),
            ("step", self.step, 0.0),
            ("l2", self.l2, 0.0),
            ("tv", self.tv, 0.0),
            ("jitter", self.jitter, 0),
            ("blur_every", self.blur_every, 0),
            ("blur_sigma", self.blur_sigma, 0.0),
        ):
            if value < low or (name == "step" and value == 0) or (name == "l2" and value >= 1):
                raise AttributionError("is out of range", param=name, value=value)


def maximize(
    model: nn.Module,
    *,
    layer: str | None = None,
    channel: int | None = None,
    class_index: int | None = None,
    start: torch.Tensor | None = None,
    shape: tuple[int, int, int] = (3, 224, 224),
    bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
    params: AscentParams | None = None,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """Gradient ascent on the input for ``layer``'s ``channel`` or the logit of ``class_index``.

    Parameters
    ----------
    layer, channel : str and int
        Maximize the mean of ``layer``'s output channel ``channel`` ...
    class_index : int
        ... or the logit of this class (give one of the two objectives).
    start : Tensor of shape (3, H, W), optional
        Preprocessed image to start from (default: seeded noise of ``shape``).
    bounds : (Tensor, Tensor) of shape (3, 1, 1), optional
        Lowest and highest preprocessed value per channel (x is clamped to them).
    params : AscentParams

    Returns
    -------
    dict
        ``image`` (3, H, W) the result, ``delta`` (3, H, W) result minus start,
        ``start`` (3, H, W), ``history`` (steps,) objective before each step (float32).
    """
    p = params or AscentParams()
    p.check()
    objective = _objective(model, layer, channel, class_index)
    gen = torch.Generator().manual_seed(p.seed)
    x0 = start.detach().clone() if start is not None else 0.1 * torch.randn(shape, generator=gen)
    x = x0.clone()[None]
    history = []
    with eval_mode(model):
        for i in range(p.steps):
            value, grad = _ascent_gradient(model, objective, x, p, gen)
            history.append(value)
            with torch.no_grad():
                x += p.step * grad / (grad.abs().mean() + 1e-12)
                x *= 1.0 - p.l2
                if p.blur_every and (i + 1) % p.blur_every == 0:
                    x = gaussian_blur(x, p.blur_sigma)
                if bounds is not None:
                    x = torch.maximum(torch.minimum(x, bounds[1]), bounds[0])
            if progress:
                progress(i + 1, p.steps)
    result = x[0].detach()
    return {
        "image": result.numpy().astype(np.float32),
        "delta": (result - x0).numpy().astype(np.float32),
        "start": x0.numpy().astype(np.float32),
        "history": np.asarray(history, dtype=np.float32),
    }


Objective = Callable[[torch.Tensor], torch.Tensor]


def _objective(
    model: nn.Module, layer: str | None, channel: int | None, class_index: int | None
) -> Objective:
    if layer is not None and class_index is not None:
        msg = "and {layer} are two objectives; give one of them"
        raise AttributionError(msg, param="class_index", value=class_index, refs={"layer": layer})
    if layer is None and class_index is None:
        msg = "maximize needs an objective: {layer} with {channel}, or {class_index}"
        names = {"layer": MISSING, "channel": MISSING, "class_index": MISSING}
        raise AttributionError(msg, refs=names)
    if class_index is not None:
        index = int(class_index)

        def logit(x: torch.Tensor) -> torch.Tensor:
            out = model(x)
            if index >= out.shape[1]:
                msg = f"is out of range: the model has {out.shape[1]} classes"
                raise AttributionError(msg, param="class_index", value=index)
            return out[:, index].mean()

        return logit
    if channel is None or channel < 0:
        msg = ": give the channel (>= 0) of {layer} to maximize"
        raise AttributionError(msg, param="channel", value=channel, refs={"layer": layer})
    return _channel_objective(model, str(layer), int(channel))


def _channel_objective(model: nn.Module, layer: str, channel: int) -> Objective:
    def mean_activation(x: torch.Tensor) -> torch.Tensor:
        with tap_output(model, layer) as kept:
            handle = dict(model.named_modules())[layer.partition("@")[0]].register_forward_hook(
                _stop_after(kept)
            )
            try:
                model(x)
            except _Stop:
                pass
            finally:
                handle.remove()
        act = kept.get("output")
        if act is None or act.ndim < 2:
            raise AttributionError("gives no (N, C, ...) output", param="layer", value=layer)
        if channel >= act.shape[1]:
            msg = f"is out of range: {layer!r} has {act.shape[1]} channels"
            raise AttributionError(msg, param="channel", value=channel)
        return act[:, channel].mean()

    return mean_activation


def _stop_after(kept: dict[str, torch.Tensor]) -> Callable[..., Any]:
    def stop(_m: nn.Module, _i: Any, _o: Any) -> None:
        if "output" in kept:
            raise _Stop

    return stop


def _ascent_gradient(
    model: nn.Module, objective: Objective, x: torch.Tensor, p: AscentParams, gen: torch.Generator
) -> tuple[float, torch.Tensor]:
    dy, dx = (0, 0)
    if p.jitter:
        dy, dx = (int(v) for v in torch.randint(-p.jitter, p.jitter + 1, (2,), generator=gen))
    inp = torch.roll(x, shifts=(dy, dx), dims=(2, 3)).detach().requires_grad_(True)
    value = objective(inp)
    total = value - p.tv * total_variation(inp) if p.tv else value
    (grad,) = torch.autograd.grad(total, inp)
    return float(value.detach()), torch.roll(grad, shifts=(-dy, -dx), dims=(2, 3))


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels of (N, C, H, W)."""
    return (x[:, :, 1:] - x[:, :, :-1]).pow(2).mean() + (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(
        2
    ).mean()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur each channel of (N, C, H, W) with a Gaussian of std ``sigma`` pixels."""
    if sigma <= 0:
        return x
    radius = max(1, round(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k1 = torch.exp(-(t**2) / (2 * sigma**2))
    k1 = k1 / k1.sum()
    c = x.shape[1]
    kh = k1.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    kw = k1.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    padded = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    return F.conv2d(F.conv2d(padded, kh, groups=c), kw, groups=c)
