"""``volviz gradients``: d class score / d conv weights (O, I, kh, kw), per image and summed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from volviz.cli.options import (
    force_option,
    info_line,
    model_options,
    progress_bar,
)
from volviz.cli.targets import (
    command_line,
    default_layer,
    export_gradient,
    export_options,
    load,
    make_target,
    precheck,
    target_options,
)

if TYPE_CHECKING:
    import numpy as np

    from volviz.capture.models import LoadedModel
    from volviz.capture.targets import Target


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--store", "out", required=True, type=click.Path(dir_okay=False))
@click.option("-m", "--model", default="efficientnet-lite0", show_default=True)
@click.option("-l", "--layers", default=None, help="Conv layers (default: the first conv).")
@target_options
@click.option(
    "--strategy",
    type=click.Choice(["auto", "loop", "batched", "vmap"]),
    default="auto",
    show_default=True,
)
@click.option("--per-image/--no-per-image", default=True, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--name", default=None, help="Run name under /gradients (default: the target).")
@click.option("--append", is_flag=True, help="Add the run to an existing store of these images.")
@export_options
@model_options
@force_option
@click.pass_context
def gradients(ctx: click.Context, inputs: tuple[str, ...], **kw: Any) -> None:
    """Gradients of a class score w.r.t. conv weights for INPUTS, into a store.

    Stored per image (N, O, I, kh, kw) and summed / averaged over the images (O, I, kh, kw)
    under /gradients/NAME/LAYER. Example:

        volviz gradients tests/data/cnn-vis/images/pembroke*.jpg -o grads.h5 -t Pembroke
    """
    from volviz.capture.gradients import weight_gradients
    from volviz.capture.runs import load_batch

    loaded = load(kw["model"], kw["weights"], kw["seed"], kw["device"])
    layers = default_layer(loaded, kw["layers"])
    target = make_target(loaded, kw["target"], kw["score"])
    name = kw["name"] or target.slug()
    precheck(kw, [f"{name}_{layer}" for layer in layers])
    batch = load_batch(list(inputs), loaded.preprocess)
    with progress_bar(ctx, f"gradients ({kw['strategy']})") as update:
        result = weight_gradients(
            loaded.module,
            batch.x.to(loaded.device),
            layers,
            target,
            per_image=kw["per_image"],
            strategy=kw["strategy"],
            batch_size=kw["batch_size"],
            progress=update,
        )
    path = _write_run(loaded, batch, result, target, name, kw)
    info_line(ctx, f"wrote {kw['out']}:{path} ({result.strategy}, {result.seconds:.2f} s)")
    for layer in result.layers:
        mean = result.mean[layer]
        info_line(ctx, f"  {layer}: {tuple(mean.shape)}, |mean gradient| = {_norm(mean):.4g}")
        if kw["out_dir"]:
            title = f"{layer} | {target.describe(loaded.class_names)} | mean of {len(batch.x)}"
            files = export_gradient(
                Path(kw["out_dir"]),
                f"{name}_{layer}",
                mean,
                reduce=kw["reduce"],
                fmt=kw["fmt"],
                title=title,
                force=kw["force"],
            )
            info_line(ctx, "  wrote " + ", ".join(str(f) for f in files))


def _norm(a: np.ndarray) -> float:
    import numpy as np

    return float(np.linalg.norm(a.astype(np.float64)))


def _write_run(
    loaded: LoadedModel, batch: Any, result: Any, target: Target, name: str, kw: dict[str, Any]
) -> str:
    from volviz.capture.runs import add_group, gradient_filler, result_store, run_attrs

    with result_store(
        kw["out"],
        loaded,
        batch,
        result.logits,
        append=kw["append"],
        force=kw["force"],
        command=command_line(),
    ) as (handle, rows):
        attrs = run_attrs(
            loaded,
            rows,
            target=target.as_json(loaded.class_names),
            target_label=target.describe(loaded.class_names),
            score=target.score,
            strategy=result.strategy,
        )

        fill = gradient_filler(loaded, result, rows, attrs)
        return add_group(handle, "gradients", name, "gradient-run", fill, force=kw["force"])
