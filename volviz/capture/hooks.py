"""Forward hooks that copy layer outputs, in a context manager that always removes them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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
def capture_outputs(
    model: nn.Module,
    names: Sequence[str],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    on_output: Callable[[str, torch.Tensor], None] | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Record a copy of each named module's output during forwards run inside the block.

    The yielded dict maps ``name`` (and ``name@1``, ``name@2``... for a module called again
    in the same forward, as EfficientNet reuses its activation modules) to a detached copy:
    a following in-place op (``ReLU(inplace=True)``) cannot change what was recorded. The
    copy is made in ``dtype`` on ``device`` when given (one pass, not a clone and then a
    conversion). The dict is refilled on every forward. With ``on_output``, each copy is
    handed to ``on_output(key, copy)`` as soon as its module has run (a store writer writes
    it while the rest of the forward runs) and the dict stays empty. Hooks are removed on
    exit, also after an exception.
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
            if not isinstance(tensor, torch.Tensor):
                return
            copy = tensor.detach().to(device=device, dtype=dtype, copy=True)
            if on_output is None:
                outputs[call_key(name, call)] = copy
            else:
                on_output(call_key(name, call), copy)

        return record

    handles = [model.register_forward_pre_hook(reset)]
    try:
        for name in names:
            handles.append(modules[name].register_forward_hook(hook(name)))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()
