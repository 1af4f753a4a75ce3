"""Benchmark: per-sample conv weight gradients and occlusion (volviz vs plain baselines, captum).

``python scripts/bench_gradients.py [--n 64] [--repeat 2]`` prints one JSON object on its last
line; ``run()`` returns it as a dict (scripts/bench.py calls it). torch runs on 1 thread,
``THP_MEM_ALLOC_ENABLE=1`` is set before torch loads (what volviz.capture sets for users).

Per-sample gradients (target: each image's predicted class, its logit): for each case the
three strategies are run as plain baselines written here (a loop of ``torch.autograd.grad``,
``torch.func.vmap(grad)`` over the whole batch, one batched forward + backward with a tensor
hook and unfold/einsum reconstruction), then volviz's ``weight_gradients(strategy="auto")``,
interleaved, best of ``repeat``. ``per_sample_grad_over_best_baseline`` is the worst case of
volviz / fastest baseline. captum's SampleGradientWrapper runs where it is installed
(``pip install captum``; not a volviz dependency); its error against the loop is reported,
since it reads the conv's input before EfficientNet's static padding.

Occlusion: EfficientNet-Lite0, 4 images at 112 x 112 (to keep the run short), window 16,
stride 8, fill 0, probability of the predicted class: volviz batched (16 per forward) vs
volviz one at a time vs captum's Occlusion (perturbations_per_eval=16, softmax output).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import side_by_side

CASES = [
    ("efficientnet-lite0", "_conv_stem"),
    ("efficientnet-lite0", "_blocks.7._depthwise_conv"),
    ("alexnet", "features.0"),
]


def images(n: int, size: int = 224) -> Any:
    import torch
    from torch.nn import functional as F

    from volviz.capture.inputs import InputImage
    from volviz.capture.models import EFFICIENTNET_LITE

    transform = EFFICIENTNET_LITE.transform()
    names = ["chelsea", "coffee", "rocket", "astronaut", "grace_hopper", "china", "flower"]
    imgs = torch.stack([transform(InputImage(f"sample:{m}", m).load()) for m in names])
    x = imgs[torch.arange(n) % len(names)]
    if size != 224:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    return x.contiguous()


# --- plain baselines -------------------------------------------------------------------------


def score(logits: Any) -> Any:
    return logits.gather(1, logits.detach().argmax(1, keepdim=True))[:, 0]


def baseline_loop(model: Any, x: Any, conv: Any) -> Any:
    import torch

    rows = [
        torch.autograd.grad(score(model(x[i : i + 1])).sum(), conv.weight)[0] for i in range(len(x))
    ]
    return torch.stack(rows)


def baseline_vmap(model: Any, x: Any, conv: Any, name: str) -> Any:
    from torch.func import functional_call, grad, vmap

    def f(w: Any, xi: Any) -> Any:
        return score(functional_call(model, {f"{name}.weight": w}, (xi[None],)))[0]

    return vmap(grad(f), in_dims=(None, 0))(conv.weight.detach(), x)


def baseline_batched(model: Any, x: Any, conv: Any) -> Any:
    import torch
    from torch.nn import functional as F

    seen: dict[str, Any] = {}

    def hook(_m: Any, inputs: Any, output: Any) -> None:
        seen["x"] = inputs[0]
        output.register_hook(lambda g: seen.__setitem__("g", g))

    handle = conv.register_forward_hook(hook)
    try:
        torch.autograd.grad(score(model(x)).sum(), conv.weight)
    finally:
        handle.remove()
    inp = seen["x"]
    static = getattr(conv, "static_padding", None)
    if isinstance(static, torch.nn.Module):
        inp = static(inp)
    o, ig, kh, kw = conv.weight.shape
    n, groups = len(x), conv.groups
    cols = F.unfold(inp, (kh, kw), dilation=conv.dilation, padding=conv.padding, stride=conv.stride)
    cols = cols.view(n, groups, ig * kh * kw, -1)
    go = seen["g"].reshape(n, groups, o // groups, -1)
    return torch.einsum("ngop,ngkp->ngok", go, cols).reshape(n, o, ig, kh, kw)


def captum_sample_grads(model: Any, x: Any, conv: Any) -> Any:
    from captum._utils.sample_gradient import SampleGradientWrapper

    wrapper = SampleGradientWrapper(model, layer_modules=[conv])
    wrapper.add_hooks()
    try:
        out = model(x.clone().requires_grad_(True))  # captum hooks the input's gradient
        wrapper.compute_param_sample_gradients(score(out).sum(), loss_mode="sum")
        grads = conv.weight.sample_grad.detach().clone()
    finally:
        wrapper.remove_hooks()
        for p in model.parameters():
            p.grad = None
            if hasattr(p, "sample_grad"):
                del p.sample_grad
    return grads


def captum_supports(conv: Any) -> str:
    """``runs``, or why captum's SampleGradientWrapper cannot run on this layer."""
    if not have_captum():
        return "not installed"
    from captum._utils.sample_gradient import SUPPORTED_MODULES

    if type(conv) not in SUPPORTED_MODULES:
        return f"does not run: {type(conv).__name__} is not a module type it supports"
    return "runs"


def have_captum() -> bool:
    try:
        import captum  # noqa: F401
    except ImportError:
        return False
    return True


def bench_case(model_name: str, layer: str, n: int, repeat: int) -> dict[str, Any]:
    import torch

    from volviz.capture.gradients import weight_gradients
    from volviz.capture.models import load_model
    from volviz.capture.targets import Target

    loaded = load_model(model_name, weights=None if model_name != "alexnet" else "random")
    model = loaded.module.eval()
    conv = dict(model.named_modules())[layer]
    x = images(n)
    target = Target(None, "logit")
    fns: dict[str, Callable[[], Any]] = {
        "loop": lambda: baseline_loop(model, x, conv),
        "batched": lambda: baseline_batched(model, x, conv),
        "vmap": lambda: baseline_vmap(model, x, conv, layer),
        "volviz": lambda: weight_gradients(model, x, [layer], target, strategy="auto"),
    }
    captum_note = captum_supports(conv)
    if captum_note == "runs":
        fns["captum"] = lambda: captum_sample_grads(model, x, conv)
    times = dict(zip(fns, side_by_side(list(fns.values()), repeat), strict=True))
    reference = baseline_loop(model, x[:4], conv)
    chosen = weight_gradients(model, x[:4], [layer], target, strategy="auto")
    got = torch.from_numpy(chosen.per_image[layer])
    best = min(times[k] for k in ("loop", "batched", "vmap"))
    row: dict[str, Any] = {
        "model": model_name,
        "layer": layer,
        "n": n,
        "seconds": {k: round(v, 3) for k, v in times.items()},
        "volviz_strategy": weight_gradients(model, x[:2], [layer], target).strategy,
        "volviz_over_best_baseline": round(times["volviz"] / best, 3),
        "volviz_max_rel_error": _rel(got, reference),
    }
    row["captum_sample_gradient_wrapper"] = captum_note
    if "captum" in times:
        row["captum_over_volviz"] = round(times["captum"] / times["volviz"], 2)
        row["captum_max_rel_error"] = _rel(captum_sample_grads(model, x[:4], conv), reference)
    return row


def _rel(a: Any, b: Any) -> float:
    return float((a - b).abs().max() / b.abs().max())


# --- occlusion ----------------------------------------------------------------------------------


def bench_occlusion(repeat: int) -> dict[str, Any]:
    import torch

    from volviz.capture.attribution import occlusion
    from volviz.capture.models import load_model
    from volviz.capture.targets import Target

    model = load_model().module.eval()
    x = images(4, size=112)
    target = Target(None, "log_softmax")
    with torch.no_grad():
        pred = model(x).argmax(1)
    settings = {"window": 16, "stride": 8, "fill": 0.0}
    fns: dict[str, Callable[[], Any]] = {
        "batched": lambda: occlusion(model, x, target, batch_size=16, **settings),
        "single": lambda: occlusion(model, x, target, batch_size=1, **settings),
    }
    if have_captum():
        fns["captum"] = lambda: captum_occlusion(model, x, pred)
    times = dict(zip(fns, side_by_side(list(fns.values()), repeat), strict=True))
    evals = 4 * 13 * 13
    row: dict[str, Any] = {
        "images": "4 x 112x112",
        "evaluations": evals,
        "seconds": {k: round(v, 3) for k, v in times.items()},
        "evals_per_s": {k: round(evals / v, 1) for k, v in times.items()},
        "batched_over_single": round(times["batched"] / times["single"], 3),
    }
    if "captum" in times:
        row["batched_over_captum"] = round(times["batched"] / times["captum"], 3)
        ours = occlusion(model, x[:1], target, batch_size=16, **settings)["maps"][0]
        theirs = captum_occlusion(model, x[:1], pred[:1])[0].mean(0).numpy()
        row["max_abs_difference_vs_captum"] = float(abs(ours - theirs).max())
    return row


def captum_occlusion(model: Any, x: Any, pred: Any) -> Any:
    import torch
    from captum.attr import Occlusion

    def prob(inp: Any) -> Any:
        return model(inp).softmax(dim=1)

    with torch.no_grad():
        return Occlusion(prob).attribute(
            x,
            sliding_window_shapes=(3, 16, 16),
            strides=(3, 8, 8),
            baselines=0.0,
            target=pred,
            perturbations_per_eval=16,
        )


def run(n: int = 64, repeat: int = 2) -> dict[str, Any]:
    """Run every case; return the JSON-able result with the three headline ratios."""
    import torch

    torch.set_num_threads(1)
    cases = [bench_case(m, layer, n, repeat) for m, layer in CASES]
    occ = bench_occlusion(repeat)
    return {
        "per_sample_grad_over_best_baseline": max(c["volviz_over_best_baseline"] for c in cases),
        "occlusion_over_captum": occ.get("batched_over_captum"),
        "occlusion_batched_over_single": occ["batched_over_single"],
        "per_sample_cases": cases,
        "occlusion": occ,
        "threads": torch.get_num_threads(),
        "allocator": f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE')}",
        "captum": _captum_version(),
    }


def _captum_version() -> str | None:
    if not have_captum():
        return None
    import captum

    return str(captum.__version__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="images for per-sample gradients")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(run(args.n, args.repeat)))


if __name__ == "__main__":
    main()
