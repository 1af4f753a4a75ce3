"""The ``batched`` per-image strategy: one backward to the layer outputs, then rebuild.

Each image's conv weight gradient is ``sum over output positions of grad_out x input
patch``: with the conv's input (after any TF-style static padding) and the gradient w.r.t.
its output, both recorded in one batched forward + backward, it is rebuilt by one grouped
convolution (ungrouped convs with kernels above 1x1) or by unfold + einsum (1x1, grouped and
depthwise convs).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from volviz.capture.targets import Target
from volviz.errors import VolvizError, literal

Progress = Callable[[int, int], None]
PerImage = tuple[dict[str, torch.Tensor], torch.Tensor]


class GradientError(VolvizError, ValueError):
    """A layer, strategy or input cannot be used for weight gradients."""


def batched_supported(module: nn.Module) -> bool:
    """True for a ``Conv2d`` whose forward is the stock one or TF-style static "same" padding."""
    if not isinstance(module, nn.Conv2d):
        return False
    if type(module).forward is nn.Conv2d.forward:
        return True
    return isinstance(getattr(module, "static_padding", None), nn.Module)


def batched_per_image(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    modules: dict[str, nn.Module],
    block: int,
    progress: Progress | None,
) -> PerImage:
    for name, module in modules.items():
        if not batched_supported(module):
            shown = literal(repr(name))
            kind = type(module).__name__
            msg = f"cannot rebuild gradients of {shown} ({kind}); use {{strategy}} or 'vmap'"
            raise GradientError(msg, param="strategy", value="batched", refs={"strategy": "loop"})
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in modules}
    logits = []
    for start in range(0, len(x), block):
        with _conv_taps(modules) as taps:
            out = model(x[start : start + block])
            flat = [(k, inp, o) for k in modules for inp, o in taps[k]]
            outputs = [o for _, _, o in flat]
            grads = torch.autograd.grad(target(out).sum(), outputs, allow_unused=True)
        for name, module in modules.items():
            calls = [(inp, g) for (k, inp, _), g in zip(flat, grads, strict=True) if k == name]
            parts[name].append(_per_sample_weight_grad(_conv(module), calls, len(out)))
        logits.append(out.detach())
        if progress:
            progress(min(start + block, len(x)), len(x))
    per = {k: torch.cat(v).float() for k, v in parts.items()}
    return per, torch.cat(logits).float()


@contextlib.contextmanager
def _conv_taps(
    modules: dict[str, nn.Module],
) -> Iterator[dict[str, list[tuple[torch.Tensor, torch.Tensor]]]]:
    """Record each call's (conv input, output); downstream gets a copy of the output.

    Handing on a clone keeps the recorded output out of reach of a following in-place op
    (``ReLU(inplace=True)``), so gradients taken w.r.t. it are those of the conv's output.
    """
    taps: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {k: [] for k in modules}

    def hook(name: str) -> Any:
        def record(_m: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
            taps[name].append((inputs[0].detach(), output))
            return output.clone()

        return record

    handles = []
    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(hook(name)))
        yield taps
    finally:
        for handle in handles:
            handle.remove()


def _conv(module: nn.Module) -> nn.Conv2d:
    assert isinstance(module, nn.Conv2d)
    return module


def _per_sample_weight_grad(
    module: nn.Conv2d, calls: Sequence[tuple[torch.Tensor, torch.Tensor | None]], n: int
) -> torch.Tensor:
    weight = module.weight
    total = torch.zeros((n, *weight.shape), dtype=torch.float32, device=weight.device)
    for inp, grad_out in calls:
        if grad_out is None:
            continue
        padded, padding = conv_input(module, inp)
        step = max(1, _UNFOLD_BUDGET // max(1, _unfold_bytes(module, padded, grad_out)))
        for s in range(0, n, step):
            total[s : s + step] += unfold_weight_grad(
                module, padded[s : s + step], grad_out[s : s + step], padding
            )
    return total


_UNFOLD_BUDGET = 512 * 1024**2


def _unfold_bytes(module: nn.Conv2d, inp: torch.Tensor, grad_out: torch.Tensor) -> int:
    k = int(np.prod(module.weight.shape[1:])) * int(module.groups)
    return k * int(np.prod(grad_out.shape[2:])) * inp.element_size()


def conv_input(module: nn.Conv2d, inp: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """The input as the convolution itself sees it, and the zero padding it still applies.

    TF-style "same" convs (EfficientNet) pad in a ``static_padding`` child; ``padding_mode``
    other than zeros and string paddings are applied here explicitly.
    """
    static = getattr(module, "static_padding", None)
    if isinstance(static, nn.Module) and type(module).forward is not nn.Conv2d.forward:
        inp = static(inp)
    padding = module.padding
    if isinstance(padding, str):
        if padding == "valid":
            return inp, (0, 0)
        pads: list[int] = []
        for d, k in zip(reversed(module.dilation), reversed(module.kernel_size), strict=True):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        mode = "constant" if module.padding_mode == "zeros" else module.padding_mode
        return F.pad(inp, pads, mode=mode), (0, 0)
    if module.padding_mode != "zeros":
        pad = module._reversed_padding_repeated_twice
        return F.pad(inp, pad, mode=module.padding_mode), (0, 0)
    return inp, (int(padding[0]), int(padding[1]))


def unfold_weight_grad(
    module: nn.Conv2d, inp: torch.Tensor, grad_out: torch.Tensor, padding: tuple[int, int]
) -> torch.Tensor:
    """Per-image conv weight gradient: sum over output positions of grad_out x input patch.

    Ungrouped convs with kernels larger than 1x1 use one grouped convolution instead of
    unfold + einsum (six times faster for alexnet's 11x11 conv1, the same numbers).

    Parameters
    ----------
    module : nn.Conv2d
    inp : Tensor of shape (B, I, H, W)
        The conv's input (after any static padding).
    grad_out : Tensor of shape (B, O, h, w)
        d score / d output, per image.
    padding : (int, int)
        Zero padding the conv applies itself.

    Returns
    -------
    Tensor of shape (B, O, I / groups, kh, kw)
    """
    o, ig, kh, kw = module.weight.shape
    g = int(module.groups)
    b = inp.shape[0]
    if g == 1 and kh * kw > 1:
        return _grouped_conv_weight_grad(module, inp, grad_out.to(inp.dtype), padding)
    cols = F.unfold(inp, (kh, kw), dilation=module.dilation, padding=padding, stride=module.stride)
    positions = cols.shape[-1]
    if positions != grad_out.shape[2] * grad_out.shape[3]:
        msg = (
            f"cannot rebuild the gradient of a {type(module).__name__}: its input gives "
            f"{positions} positions, its output {tuple(grad_out.shape[2:])}; use {{strategy}}"
        )
        raise GradientError(msg, refs={"strategy": "loop"})
    cols = cols.view(b, g, ig * kh * kw, positions)
    go = grad_out.reshape(b, g, o // g, positions).to(cols.dtype)
    out = torch.einsum("bgop,bgkp->bgok", go, cols)
    return out.reshape(b, o, ig, kh, kw)


def _grouped_conv_weight_grad(
    module: nn.Conv2d, inp: torch.Tensor, grad_out: torch.Tensor, padding: tuple[int, int]
) -> torch.Tensor:
    """Per-image weight gradient as one conv: images become groups, grad_out the kernels.

    ``result[i, n * O + o, a, b] = sum_yx input[n, i, a * dil + y * stride, ...] *
    grad_out[n, o, y, x]``: a convolution of the (I, N, H, W) input with stride and dilation
    swapped, cropped to the kernel size.
    """
    n, i = inp.shape[:2]
    o = grad_out.shape[1]
    kh, kw = module.kernel_size
    padded = F.pad(inp, (padding[1], padding[1], padding[0], padding[0])).transpose(0, 1)
    kernels = grad_out.reshape(n * o, 1, *grad_out.shape[2:])
    out = F.conv2d(padded, kernels, stride=module.dilation, dilation=module.stride, groups=n)
    return out[:, :, :kh, :kw].reshape(i, n, o, kh, kw).permute(1, 2, 0, 3, 4)
