"""Find layers by dotted ``named_modules()`` name, glob pattern, or ``conv`` for every conv."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from volviz.errors import LayerNotFoundError

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def resolve_layers(model: nn.Module, specs: Sequence[str]) -> list[str]:
    """Return module names matching ``specs``, in network (registration) order, no duplicates.

    Each spec is ``conv`` (every convolution), a dotted name, or a glob such as ``features.*``.
    An unknown name raises ``LayerNotFoundError`` listing close matches, before any work.
    """
    modules = dict(model.named_modules())
    names = [n for n in modules if n]
    chosen: set[str] = set()
    for spec in specs:
        if spec == "conv":
            hits = [n for n in names if isinstance(modules[n], CONV_TYPES)]
        elif spec in modules and spec:
            hits = [spec]
        elif any(ch in spec for ch in "*?["):
            hits = fnmatch.filter(names, spec)
        else:
            hits = []
        if not hits:
            raise unknown_layer(model, spec, param="layers")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def unknown_layer(model: nn.Module, name: str, *, param: str) -> LayerNotFoundError:
    """The error for a name that is no module of ``model``, listing close matches."""
    names = [n for n, _ in model.named_modules() if n]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `volviz layers MODEL`"
    msg = f"matches no layer of {type(model).__name__}{hint}"
    return LayerNotFoundError(msg, param=param, value=name)


@dataclass(frozen=True)
class LayerInfo:
    """One module: its name, type, output shape for one input, and how often it runs."""

    name: str
    type: str
    shape: tuple[int, ...] | None
    calls: int


def layer_table(model: nn.Module, x: torch.Tensor) -> list[LayerInfo]:
    """Run ``x`` (a batch of one) through ``model`` and report every module's output shape."""
    from volviz.capture.hooks import eval_mode

    shapes: dict[str, tuple[int, ...] | None] = {}
    calls: dict[str, int] = {}
    handles = []

    def hook(name: str) -> Any:
        def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            if name not in shapes:
                shapes[name] = tuple(output.shape) if isinstance(output, torch.Tensor) else None

        return record

    named = [(n, m) for n, m in model.named_modules() if n]
    try:
        for name, module in named:
            handles.append(module.register_forward_hook(hook(name)))
        with eval_mode(model), torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return [LayerInfo(n, type(m).__name__, shapes.get(n), calls.get(n, 0)) for n, m in named]


def layer_attributes(module: nn.Module) -> dict[str, Any]:
    """Plain attributes describing a module (type, and kernel/stride/padding for convs)."""
    attrs: dict[str, Any] = {"module_type": type(module).__name__}
    for key in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation"):
        value = getattr(module, key, None)
        if isinstance(value, int | tuple) and not isinstance(value, bool):
            attrs[key] = list(value) if isinstance(value, tuple) else value
        elif isinstance(value, str):
            attrs[key] = value
    if isinstance(getattr(module, "groups", None), int):
        attrs["groups"] = module.groups
    # TF-style "same" convs (EfficientNet) pad in a child module, not in Conv2d.padding.
    pad = getattr(getattr(module, "static_padding", None), "padding", None)
    if isinstance(pad, tuple) and all(isinstance(p, int) for p in pad):
        attrs["static_padding"] = list(pad)
    return attrs
