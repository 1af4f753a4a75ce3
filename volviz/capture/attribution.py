"""2-D attribution maps of a target on the input: saliency, SmoothGrad, Grad-CAM, occlusion.

Every function takes preprocessed images (N, 3, H, W) and a ``Target``, runs the model in
eval mode (flags restored), removes its hooks, never touches ``.grad``, and returns plain
numpy arrays with one (H, W) map per image plus the class explained for each image. With
the ``pred`` target the class is fixed from the clean image before any noise or occlusion.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from volviz.capture.hooks import eval_mode
from volviz.capture.layers import unknown_layer
from volviz.capture.targets import Target
from volviz.errors import VolvizError

Progress = Callable[[int, int], None]
CHANNEL_REDUCTIONS = ("max", "mean")


class AttributionError(VolvizError, ValueError):
    """A parameter of an attribution method is out of range."""


def fixed_targets(model: nn.Module, x: torch.Tensor, target: Target) -> list[Target]:
    """One target per image; ``pred`` becomes the class each clean image is predicted as."""
    if target.classes is not None:
        return [target] * len(x)
    with eval_mode(model), torch.no_grad():
        top = model(x).argmax(dim=1).tolist()
    return [Target((int(c),), target.score, target.spec) for c in top]


def class_indices(targets: list[Target]) -> np.ndarray:
    """Class explained per image (-1 for a class set): int64 (N,)."""
    return np.array([t.classes[0] if t.classes and len(t.classes) == 1 else -1 for t in targets])


def _check(name: str, value: float, low: float, high: float = float("inf")) -> None:
    if not low <= value <= high:
        bound = f">= {low}" if high == float("inf") else f"in [{low}, {high}]"
        raise AttributionError(f"must be {bound}", param=name, value=value)


# --- saliency ---------------------------------------------------------------------------


def saliency(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    *,
    samples: int = 0,
    noise: float = 0.15,
    absolute: bool = True,
    channels: str = "max",
    batch_size: int = 16,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Vanilla gradient saliency, or SmoothGrad with ``samples`` > 0.

    Parameters
    ----------
    x : Tensor of shape (N, 3, H, W)
    samples : int
        SmoothGrad: gradients averaged over this many noisy copies (0: vanilla gradient).
    noise : float
        SmoothGrad noise std as a fraction of each image's value range (max - min).
    absolute : bool
        Take ``|gradient|`` before reducing the channels (Simonyan et al.).
    channels : {"max", "mean"}
        Reduction over the input's colour channels.
    seed : int
        Seed of the SmoothGrad noise.

    Returns
    -------
    dict
        ``maps`` (N, H, W) float32; ``gradients`` (N, 3, H, W) float32 (averaged, signed);
        ``class_index`` (N,).
    """
    if channels not in CHANNEL_REDUCTIONS:
        msg = f"is not one of {', '.join(CHANNEL_REDUCTIONS)}"
        raise AttributionError(msg, param="channels", value=channels)
    _check("samples", samples, 0)
    _check("noise", noise, 0.0)
    _check("batch_size", batch_size, 1)
    targets = fixed_targets(model, x, target)
    gen = torch.Generator().manual_seed(seed)
    grads = []
    with eval_mode(model):
        for xi, ti in zip(x, targets, strict=True):
            grads.append(_image_gradient(model, xi, ti, samples, noise, batch_size, gen))
    g = torch.stack(grads)
    m = g.abs() if absolute else g
    maps = m.amax(dim=1) if channels == "max" else m.mean(dim=1)
    return {
        "maps": maps.numpy().astype(np.float32),
        "gradients": g.numpy().astype(np.float32),
        "class_index": class_indices(targets),
    }


def _image_gradient(
    model: nn.Module,
    xi: torch.Tensor,
    target: Target,
    samples: int,
    noise: float,
    batch_size: int,
    gen: torch.Generator,
) -> torch.Tensor:
    if samples == 0:
        inp = xi[None].clone().requires_grad_(True)
        return torch.autograd.grad(target(model(inp)).sum(), inp)[0][0].detach()
    sigma = noise * float(xi.max() - xi.min())
    total = torch.zeros_like(xi)
    for start in range(0, samples, batch_size):
        b = min(batch_size, samples - start)
        eps = torch.randn((b, *xi.shape), generator=gen, dtype=xi.dtype) * sigma
        inp = (xi[None] + eps.to(xi.device)).requires_grad_(True)
        total += torch.autograd.grad(target(model(inp)).sum(), inp)[0].sum(dim=0).detach()
    return total / samples


# --- Grad-CAM ---------------------------------------------------------------------------


@contextlib.contextmanager
def tap_output(model: nn.Module, layer: str) -> Iterator[dict[str, torch.Tensor]]:
    """Keep the live (differentiable) output of ``layer`` (``NAME@k``: its k-th call).

    The module hands on a clone, so an in-place op after it (``ReLU(inplace=True)``) cannot
    change the kept tensor. Raises ``LayerNotFoundError`` for an unknown name.
    """
    name, _, call = layer.partition("@")
    modules = dict(model.named_modules())
    if not name or name not in modules:
        raise unknown_layer(model, layer, param="layer")
    want = int(call or 0)
    kept: dict[str, torch.Tensor] = {}
    seen = [0]

    def hook(_m: nn.Module, _i: Any, output: Any) -> Any:
        index = seen[0]
        seen[0] += 1
        if index == want and isinstance(output, torch.Tensor):
            kept["output"] = output
            return output.clone()
        return None

    handle = modules[name].register_forward_hook(hook)
    try:
        yield kept
    finally:
        handle.remove()


def gradcam(
    model: nn.Module, x: torch.Tensor, layer: str, target: Target, *, batch_size: int = 16
) -> dict[str, np.ndarray]:
    """Grad-CAM (Selvaraju et al.): ``ReLU(sum_k alpha_k A_k)``, ``alpha_k = mean(dS/dA_k)``.

    ``A`` is the layer's output (for a conv, before any following activation), read from
    a copy so in-place ops downstream cannot corrupt it. The map is upsampled bilinearly
    (``align_corners=False``) to the input size; values are raw (not normalized).

    Returns
    -------
    dict
        ``maps`` (N, H, W), ``layer_maps`` (N, h, w), ``class_index`` (N,).
    """
    _check("batch_size", batch_size, 1)
    targets = fixed_targets(model, x, target)
    cams = []
    with eval_mode(model):
        for start in range(0, len(x), batch_size):
            part = x[start : start + batch_size].clone().requires_grad_(True)
            with tap_output(model, layer) as kept:
                out = model(part)
            if "output" not in kept or kept["output"].ndim != 4:
                msg = "gives no (N, C, h, w) output for Grad-CAM"
                raise AttributionError(msg, param="layer", value=layer)
            scores = torch.stack(
                [t(out[i : i + 1])[0] for i, t in enumerate(targets[start : start + len(part)])]
            )
            act = kept["output"]
            (grad,) = torch.autograd.grad(scores.sum(), act)
            alpha = grad.mean(dim=(2, 3), keepdim=True)
            cams.append(F.relu((alpha * act).sum(dim=1)).detach())
    small = torch.cat(cams)
    big = F.interpolate(small[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)
    return {
        "maps": big[:, 0].numpy().astype(np.float32),
        "layer_maps": small.numpy().astype(np.float32),
        "class_index": class_indices(targets),
    }


# --- occlusion --------------------------------------------------------------------------


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Window positions along one axis; the last one is moved in so the edge is covered."""
    starts = list(range(0, max(1, size - window + 1), stride))
    if starts[-1] + window < size:
        starts.append(size - window)
    return starts


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    *,
    window: int = 16,
    stride: int = 8,
    fill: float = 0.0,
    batch_size: int = 16,
    clip: float = 99.0,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """Occlusion sensitivity (Zeiler & Fergus): drop of the target's score per pixel.

    A ``window`` x ``window`` patch set to ``fill`` (in preprocessed units: 0 is the
    dataset's mean colour) slides with ``stride``; each pixel gets the mean drop of the
    target's score (``target.score``: probability, log-probability or logit) over the windows
    covering it. Windows start every ``stride`` pixels; where that leaves the edge uncovered,
    one more window is placed flush with the edge (:func:`window_starts`). ``stride`` may not
    exceed ``window``: pixels between windows would never be occluded and read as "no effect".

    Parameters
    ----------
    batch_size : int
        Occluded copies evaluated per forward (1: one at a time).
    clip : float
        The ``clipped`` map is clipped to the [100 - clip, clip] percentiles of each map
        (cnn-viz's regularized view: a few extreme windows no longer wash out the rest).

    Returns
    -------
    dict
        ``maps`` (N, H, W), ``clipped`` (N, H, W), ``base_score`` (N,), ``class_index`` (N,).
    """
    _check("window", window, 1, min(x.shape[2:]))
    _check("stride", stride, 1)
    if stride > window:
        msg = "is larger than {window}: pixels between windows would never be occluded"
        raise AttributionError(msg, param="stride", value=stride, refs={"window": window})
    _check("batch_size", batch_size, 1)
    _check("clip", clip, 50.0, 100.0)
    targets = fixed_targets(model, x, target)
    h, w = x.shape[2:]
    spots = [
        (r, c) for r in window_starts(h, window, stride) for c in window_starts(w, window, stride)
    ]
    total = len(spots) * len(x)
    maps, base = [], []
    with eval_mode(model), torch.inference_mode():
        for n, (xi, ti) in enumerate(zip(x, targets, strict=True)):
            s0 = float(ti(model(xi[None]))[0])
            drops = torch.empty(len(spots))
            for s in range(0, len(spots), batch_size):
                chunk = spots[s : s + batch_size]
                batch = xi.expand(len(chunk), *xi.shape).clone()
                for j, (r, c) in enumerate(chunk):
                    batch[j, :, r : r + window, c : c + window] = fill
                drops[s : s + len(chunk)] = s0 - ti(model(batch)).cpu()
                if progress:
                    progress(n * len(spots) + s + len(chunk), total)
            maps.append(_spread(drops, spots, window, (h, w)))
            base.append(s0)
    stacked = np.stack(maps).astype(np.float32)
    return {
        "maps": stacked,
        "clipped": np.stack([clip_percentile(m, clip) for m in stacked]),
        "base_score": np.asarray(base, dtype=np.float32),
        "class_index": class_indices(targets),
    }


def _spread(
    drops: torch.Tensor, spots: list[tuple[int, int]], window: int, size: tuple[int, int]
) -> np.ndarray:
    total = np.zeros(size, dtype=np.float64)
    count = np.zeros(size, dtype=np.float64)
    for d, (r, c) in zip(drops.tolist(), spots, strict=True):
        total[r : r + window, c : c + window] += d
        count[r : r + window, c : c + window] += 1
    return total / np.maximum(count, 1)


def clip_percentile(values: np.ndarray, q: float = 99.0) -> np.ndarray:
    """Clip to the [100 - q, q] percentiles of ``values``: float32, same shape."""
    lo, hi = np.percentile(values, [100.0 - q, q])
    return np.clip(values, lo, hi).astype(np.float32)
