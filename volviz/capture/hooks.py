"""Forward hooks that copy layer outputs, in a context manager that always removes them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module in eval mode; restore each module's own ``training`` flag afterwards."""
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags.items():
            module.training = flag


def call_key(name: str, call: int) -> str:
    """Key of the ``call``-th output of a module run several times per forward (0 -> name)."""
    return name if call == 0 else f"{name}@{call}"


@contextmanager
def capture_outputs(model: nn.Module, names: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Record a copy of each named module's output during forwards run inside the block.

    The yielded dict maps ``name`` (and ``name@1``, ``name@2``... for a module called again
    in the same forward, as EfficientNet reuses its activation modules) to a detached clone:
    a following in-place op (``ReLU(inplace=True)``) cannot change what was recorded. The
    dict is refilled on every forward. Hooks are removed on exit, also after an exception.
    """
    modules = dict(model.named_modules())
    outputs: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    def reset(_module: nn.Module, _inputs: Any) -> None:
        outputs.clear()
        counts.clear()

    def hook(name: str) -> Any:
        def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
            call = counts.get(name, 0)
            counts[name] = call + 1
            tensor = output[0] if isinstance(output, tuple | list) else output
            if isinstance(tensor, torch.Tensor):
                outputs[call_key(name, call)] = tensor.detach().clone()

        return record

    handles = [model.register_forward_pre_hook(reset)]
    try:
        for name in names:
            handles.append(modules[name].register_forward_hook(hook(name)))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()
