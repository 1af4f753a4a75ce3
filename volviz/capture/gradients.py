"""Gradients of a class score w.r.t. conv weights: per image, and summed over images.

Three per-sample strategies give the same numbers (tests hold them to the loop):

``loop``
    one forward + ``torch.autograd.grad`` per image. Small working set: best where one
    image's activations dwarf the weights (EfficientNet-Lite0: big maps, depthwise convs,
    slower per image in big batches on CPU).
``batched``
    one forward + backward per block of images, gradients taken w.r.t. the layer's output
    only, then each image's weight gradient rebuilt as ``sum over positions of
    grad_out x input patch`` (one grouped conv, or unfold + einsum; handles stride, padding
    modes, TF-style static padding, dilation, groups and depthwise). Best where batching
    reuses large weights (alexnet, vgg, resnet) or the backward is short (late layers).
``vmap``
    ``torch.func.vmap(grad(...))`` over images with ``functional_call``.

``auto`` first counts, in one no-grad forward of image 0, the activation bytes a backward walks
through (outputs from the first chosen layer on), then runs every image ``batched`` when 2.5x
the model's parameter bytes exceed that (batching amortises big weights over little
activation memory) and every layer can be rebuilt, else by the loop. Blocks hold about
4 GiB of saved activations (16 images for EfficientNet-Lite0: measured faster than 8, 32
or 64 per block on _blocks.7, 1.44 s vs 1.77, 2.85 and 4.02 s for 64 images).
scripts/bench_gradients.py checks the rule against all three. Sums over images need no
per-sample step: one backward of the summed score per block.

The user's ``.grad`` is never touched (``torch.autograd.grad`` only), modules' ``training``
flags and ``requires_grad`` flags are restored, and hooks are removed, also on errors.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from volviz.capture.batched import GradientError, PerImage, batched_per_image, batched_supported
from volviz.capture.hooks import eval_mode
from volviz.capture.layers import resolve_layers
from volviz.capture.targets import Target

STRATEGIES = ("auto", "loop", "batched", "vmap")
MEMORY_BUDGET = 4 * 1024**3  # bytes of saved activations one block of images may take
Progress = Callable[[int, int], None]


@dataclass
class GradientResult:
    """Weight gradients of one target for N images.

    Attributes
    ----------
    per_image : dict of str to ndarray of shape (N, *weight.shape), or None
        Gradient of each image's score (float32), when asked for.
    sum, mean : dict of str to ndarray of shape weight.shape
        Gradient of the summed (mean) score over the N images.
    logits : ndarray of shape (N, K)
    class_index : ndarray of shape (N,), int64
        Class explained per image (-1 for a class set).
    strategy : str
        The strategy that ran (``aggregate`` when no per-image gradients were asked for).
    seconds : float
    """

    per_image: dict[str, np.ndarray] | None
    sum: dict[str, np.ndarray]
    mean: dict[str, np.ndarray]
    logits: np.ndarray
    class_index: np.ndarray
    strategy: str
    seconds: float
    layers: list[str] = field(default_factory=list)


def weight_gradients(
    model: nn.Module,
    x: torch.Tensor,
    layers: Sequence[str],
    target: Target,
    *,
    per_image: bool = True,
    strategy: str = "auto",
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> GradientResult:
    """Gradients of ``target``'s score w.r.t. the weights of ``layers``.

    Parameters
    ----------
    model : nn.Module
        Returns (N, K) logits; run in eval mode (flags restored afterwards).
    x : Tensor of shape (N, C, H, W)
        Preprocessed images.
    layers : sequence of str
        Dotted module names or patterns (``conv`` for every convolution).
    target : Target
        What to differentiate (see ``volviz.capture.targets``).
    per_image : bool
        Also return each image's gradient (N, O, I, kh, kw); otherwise only sum and mean.
    strategy : {"auto", "loop", "batched", "vmap"}
    batch_size : int, optional
        Images per forward for ``batched``/``vmap``/sums (default: from a memory budget).
    progress : callable, optional
        ``progress(done, total)`` after each block of images.

    Returns
    -------
    GradientResult
    """
    if strategy not in STRATEGIES:
        msg = f"is not one of {', '.join(STRATEGIES)}"
        raise GradientError(msg, param="strategy", value=strategy)
    if x.ndim != 4 or len(x) == 0:
        msg = f"inputs have shape {tuple(x.shape)}, expected (N, C, H, W) with N >= 1"
        raise GradientError(msg)
    names = resolve_layers(model, layers)
    modules = _weighted(model, names)
    start = time.perf_counter()
    with eval_mode(model), _weights_require_grad(modules.values()):
        if not per_image:
            chosen = "aggregate"
            block = batch_size or _block(activation_bytes(model, x[:1]), len(x))
            grads, logits = _aggregate(model, x, target, modules, block, progress)
        else:
            if strategy == "auto":
                per, logits, chosen = _auto(model, x, target, modules, batch_size, progress)
            else:
                chosen = strategy
                act = 0 if batch_size or chosen == "loop" else activation_bytes(model, x[:1])
                block = batch_size or _block(act, len(x))
                per, logits = _RUN[chosen](model, x, target, modules, block, progress)
            grads = {k: v.sum(dim=0) for k, v in per.items()}
    n = len(x)
    return GradientResult(
        per_image={k: _np(v) for k, v in per.items()} if per_image else None,
        sum={k: _np(v) for k, v in grads.items()},
        mean={k: _np(v / n) for k, v in grads.items()},
        logits=_np(logits),
        class_index=target.class_index(logits).cpu().numpy(),
        strategy=chosen,
        seconds=time.perf_counter() - start,
        layers=list(modules),
    )


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


# Measured (1 thread, EfficientNet-Lite0, N=32): the loop wins for the stem (81.6 MB of
# activations from the layer on, per image, vs 18.6 MB of weights) and _blocks.1 (55.8 MB);
# batched wins from _blocks.3 (40.0 MB) on; alexnet, vgg and resnet layers batch better.
BATCHED_RATIO = 2.5


def choose_strategy(
    model: nn.Module, x: torch.Tensor, modules: dict[str, nn.Module], act_bytes: int
) -> str:
    """The ``auto`` rule: ``batched`` when the weights outweigh the activations, else loop.

    ``act_bytes`` is what one image's backward walks through: the output bytes of the
    modules run from the first chosen layer on. Batching pays where it reuses big weights
    over little activation memory; where activations dominate, small batches stay in cache.
    """
    if len(x) == 1 or not all(batched_supported(m) for m in modules.values()):
        return "loop"
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return "batched" if BATCHED_RATIO * param_bytes > act_bytes else "loop"


def _block(act_bytes: int, n: int) -> int:
    """Images per forward so that saved activations stay within ``MEMORY_BUDGET``."""
    return int(max(1, min(n, MEMORY_BUDGET // (3 * max(1, act_bytes)))))


def _auto(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    modules: dict[str, nn.Module],
    batch_size: int | None,
    progress: Progress | None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, str]:
    """Count one image's activation bytes (a no-grad forward), then run the rule's choice.

    The counting forward costs about a third of one image's forward + backward: under 1% of
    a 64-image run, less than splitting the run would.
    """
    with _count_activations(model, list(modules.values())) as counted, torch.no_grad():
        model(x[:1])
    chosen = choose_strategy(model, x, modules, counted[1])
    block = batch_size or _block(counted[0], len(x))  # memory: the whole forward
    per, logits = _RUN[chosen](model, x, target, modules, block, progress)
    return per, logits, chosen


@contextlib.contextmanager
def _count_activations(model: nn.Module, layers: Sequence[nn.Module] = ()) -> Iterator[list[int]]:
    """Count output bytes of every leaf module during the forwards run in the block.

    Yields ``[total, after]``: ``after`` counts only outputs produced once one of ``layers``
    has run (what a backward to those layers walks through).
    """
    counted = [0, 0]
    started = [not layers]

    def count(_m: nn.Module, _i: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor):
            counted[0] += out.numel() * out.element_size()
            if started[0]:
                counted[1] += out.numel() * out.element_size()

    def start(_m: nn.Module, _i: Any, _o: Any) -> None:
        started[0] = True

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(start) for m in layers]
    handles += [m.register_forward_hook(count) for m in leaves]
    try:
        yield counted
    finally:
        for handle in handles:
            handle.remove()


def activation_bytes(model: nn.Module, x1: torch.Tensor) -> int:
    """Bytes of the outputs of every leaf module for one image (one no-grad forward)."""
    with _count_activations(model) as counted, torch.no_grad():
        model(x1)
    return counted[0]


def weight_of(module: nn.Module) -> torch.Tensor:
    """The ``weight`` parameter of a module (checked by ``_weighted``)."""
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return weight


def _weighted(model: nn.Module, names: Sequence[str]) -> dict[str, nn.Module]:
    """The named modules with a 4-D (O, I, kh, kw) weight; a pattern may match others too."""
    found = dict(model.named_modules())
    out = {}
    for name in names:
        weight = getattr(found[name], "weight", None)
        if isinstance(weight, nn.Parameter) and weight.ndim == 4:
            out[name] = found[name]
    if not out:
        kinds = ", ".join(f"{n} ({type(found[n]).__name__})" for n in names[:5])
        msg = f"name no 2-D conv layer with (O, I, kh, kw) weights to differentiate: {kinds}"
        raise GradientError(msg, param="layers")
    return out


@contextlib.contextmanager
def _weights_require_grad(modules: Any) -> Iterator[None]:
    weights = [weight_of(m) for m in modules]
    flags = [w.requires_grad for w in weights]
    try:
        for w in weights:
            w.requires_grad_(True)
        yield
    finally:
        for w, flag in zip(weights, flags, strict=True):
            w.requires_grad_(flag)


def _loop(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    modules: dict[str, nn.Module],
    _block: int,
    progress: Progress | None,
) -> PerImage:
    weights = [weight_of(m) for m in modules.values()]
    rows: list[tuple[torch.Tensor, ...]] = []
    logits = []
    for i in range(len(x)):
        out = model(x[i : i + 1])
        rows.append(torch.autograd.grad(target(out).sum(), weights))
        logits.append(out.detach())
        if progress:
            progress(i + 1, len(x))
    per = {k: torch.stack([r[j] for r in rows]).float() for j, k in enumerate(modules)}
    return per, torch.cat(logits).float()


def _vmap(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    modules: dict[str, nn.Module],
    block: int,
    progress: Progress | None,
) -> PerImage:
    from torch.func import functional_call, grad, vmap

    params = {f"{k}.weight" if k else "weight": weight_of(m).detach() for k, m in modules.items()}

    def score(ws: dict[str, torch.Tensor], xi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = functional_call(model, ws, (xi[None],), strict=False)
        return target(out)[0], out[0].detach()

    per_grad = vmap(grad(score, has_aux=True), in_dims=(None, 0))
    parts: list[dict[str, torch.Tensor]] = []
    logits = []
    for start in range(0, len(x), block):
        grads, out = per_grad(params, x[start : start + block])
        parts.append(grads)
        logits.append(out)
        if progress:
            progress(min(start + block, len(x)), len(x))
    per = {
        k: torch.cat([p[key] for p in parts]).float()
        for k, key in zip(modules, params, strict=True)
    }
    return per, torch.cat(logits).float()


def _aggregate(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    modules: dict[str, nn.Module],
    block: int,
    progress: Progress | None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    weights = [weight_of(m) for m in modules.values()]
    total = [torch.zeros_like(w, dtype=torch.float32) for w in weights]
    logits = []
    for start in range(0, len(x), block):
        out = model(x[start : start + block])
        for acc, g in zip(total, torch.autograd.grad(target(out).sum(), weights), strict=True):
            acc += g.float()
        logits.append(out.detach())
        if progress:
            progress(min(start + block, len(x)), len(x))
    return dict(zip(modules, total, strict=True)), torch.cat(logits).float()


_RUN: dict[str, Callable[..., PerImage]] = {}  # filled below the strategies


_RUN.update(loop=_loop, batched=batched_per_image, vmap=_vmap)
