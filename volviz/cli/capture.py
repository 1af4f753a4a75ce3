"""``volviz capture``: activations of chosen layers for many images, into a store."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from volviz.cli.options import (
    compress_option,
    force_option,
    info_line,
    layer_list,
    model_options,
    progress_bar,
)
from volviz.cli.verbose import detail, file_detail
from volviz.cli.verbose import stage as timed  # `stage` is the --stage option here


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Store to write.")
@click.option("-m", "--model", default="efficientnet-lite0", show_default=True)
@click.option(
    "-l",
    "--layers",
    default="conv",
    show_default=True,
    help="Comma-separated dotted names, globs (features.*), or conv for every conv layer.",
)
@click.option(
    "--stage",
    default="pre",
    show_default=True,
    help="pre: each layer's own output; post: what the next layer receives (after the "
    "BN/activation/residual add found in the traced graph, key NAME+post); both. "
    "Per layer: post,_conv_stem=both.",
)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option(
    "--dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True
)
@compress_option
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted capture of OUT, skipping images already stored.",
)
@click.option(
    "--workers",
    type=int,
    default=0,
    show_default=True,
    help="Processes decoding images (0: one background thread).",
)
@model_options
@force_option
@click.pass_context
def capture(
    ctx: click.Context,
    inputs: tuple[str, ...],
    out: str,
    model: str,
    layers: str,
    stage: str,
    batch_size: int,
    dtype: str,
    compress: str,
    resume: bool,
    workers: int,
    weights: str | None,
    seed: int,
    device: str,
    force: bool,
) -> None:
    """Capture activations of INPUTS (files, folders, globs, sample:NAME) into a store.

    Example: volviz capture sample:chelsea photos/ -o acts.h5 --layers conv

    An interrupted run (Ctrl-C, kill, crash) keeps what it stored in a hidden .OUT.partial
    beside OUT; the same command with --resume continues it.
    """
    from volviz.capture.extract import capture as run_capture
    from volviz.capture.models import load_model
    from volviz.cli.info import print_predictions
    from volviz.store import Store
    from volviz.store.writer import check_target

    check_target(Path(out), force=force)
    from volviz.store.compression import codec_name, dataset_filters

    dataset_filters(codec_name(compress))  # before the model is built
    with timed(ctx, "load the model"):
        loaded = load_model(model, weights=weights, seed=seed, device=device)
    info_line(ctx, f"{loaded.name}: weights {loaded.weights}, device {loaded.device}")
    specs = layer_list(layers)
    with (
        timed(ctx, "capture (forward passes and writes)"),
        progress_bar(ctx, "capturing") as update,
    ):
        run_capture(
            loaded,
            list(inputs),
            out,
            layers=specs,
            stage=stage,
            batch_size=batch_size,
            dtype=dtype,
            compress=compress,
            force=force,
            resume=resume,
            num_workers=workers,
            progress=update,
            command=shlex.join(["volviz", *sys.argv[1:]]),
        )
    with Store(out) as store:
        info_line(ctx, f"wrote {out}: {len(store.layers)} layers x {store.n_images} images")
        for layer in store.layers:  # -v: what each layer's dataset looks like on disk
            ds = store.activations(layer)
            codec = ds.attrs.get("compression", ds.compression or "none")
            detail(ctx, f"  {layer}: {ds.shape} {ds.dtype}, chunks {ds.chunks}, {codec}")
        file_detail(ctx, out)
        if not ctx.obj.get("quiet"):
            print_predictions(store)
