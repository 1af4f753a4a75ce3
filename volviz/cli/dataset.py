"""``volviz dataset``: whole datasets: capture on a Dask cluster, merge shards, aggregates."""

from __future__ import annotations

from pathlib import Path

import click

from volviz.cli.errors import VolvizGroup, api_names
from volviz.cli.options import (
    compress_option,
    force_option,
    info_line,
    layer_list,
    model_options,
    progress_bar,
)


@click.group(cls=VolvizGroup)
def dataset() -> None:
    """Work with datasets too big for one run: shards, merged stores, streaming aggregates."""


@api_names(workers="local_workers", client="scheduler")
@dataset.command("capture")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Merged store.")
@click.option("-m", "--model", default="efficientnet-lite0", show_default=True)
@click.option("-l", "--layers", default="conv", show_default=True, help="As for capture.")
@click.option(
    "--scheduler",
    default=None,
    help="Dask scheduler address (tcp://HOST:8786); default: a local cluster.",
)
@click.option(
    "--local-workers",
    type=int,
    default=2,
    show_default=True,
    help="Worker processes of the local cluster.",
)
@click.option("--shards", type=int, default=None, help="Shards (default: 2 per worker).")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option(
    "--dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True
)
@compress_option
@click.option("--top-k", type=int, default=None, help="Also aggregate: top-k images per channel.")
@click.option("--resume", is_flag=True, help="Keep finished shards, resume unfinished ones.")
@model_options
@force_option
@click.pass_context
def capture_cmd(
    ctx: click.Context,
    inputs: tuple[str, ...],
    out: str,
    model: str,
    layers: str,
    scheduler: str | None,
    local_workers: int,
    shards: int | None,
    batch_size: int,
    dtype: str,
    compress: str,
    top_k: int | None,
    resume: bool,
    weights: str | None,
    seed: int,
    device: str,
    force: bool,
) -> None:
    """Capture INPUTS on a Dask cluster: one shard store per task, merged into OUT (HDF5 VDS).

    The shards go to OUT.shards/ beside OUT and must stay there: OUT reads through them.
    """
    from volviz.capture.distributed import capture_distributed, model_factory
    from volviz.store import Store

    if weights is not None and Path(weights).is_file():  # workers run in other folders
        weights = str(Path(weights).absolute())
    factory = model_factory(model, weights=weights, seed=seed, device=device)
    with progress_bar(ctx, "capturing shards") as update:
        capture_distributed(
            factory,
            list(inputs),
            out,
            client=scheduler,
            workers=local_workers,
            shards=shards,
            layers=layer_list(layers),
            batch_size=batch_size,
            dtype=dtype,
            compress=compress,
            resume=resume,
            force=force,
            top_k=top_k,
            progress=update,
        )
    with Store(out) as store:
        info_line(ctx, f"wrote {out}: {len(store.layers)} layers x {store.n_images} images")


@dataset.command("merge")
@click.argument("shards", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Merged store.")
@force_option
@click.pass_context
def merge(ctx: click.Context, shards: tuple[str, ...], out: str, force: bool) -> None:
    """Merge shard stores (in the order given) into OUT through HDF5 virtual datasets."""
    from volviz.store.shards import merge_shards

    merge_shards(list(shards), out, force=force)
    info_line(ctx, f"wrote {out} over {len(shards)} shards")


@dataset.command("stats")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--layer", "layers", multiple=True, help="Layer key (repeatable); default: all.")
@click.option("--top-k", type=int, default=9, show_default=True, help="Images kept per channel.")
@force_option
@click.pass_context
def stats(ctx: click.Context, file: str, layers: tuple[str, ...], top_k: int, force: bool) -> None:
    """Per-label mean/variance and top-k images per channel of FILE's activations.

    Streams FILE a block of images at a time; stores /aggregates/activations/<layer>.
    """
    from volviz.store.aggregates import aggregate_store

    with progress_bar(ctx, "aggregating layers") as update:
        done = aggregate_store(file, layers=list(layers), top_k=top_k, force=force, progress=update)
    info_line(ctx, f"stored aggregates of {len(done)} layers in {file}")


@dataset.command("order")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--layer", required=True, help="Layer key.")
@click.option("--method", default="best", show_default=True, help="An ordering method.")
@click.option("--label", default="*", show_default=True, help="Mean of this label's images.")
@click.option("--name", default=None, help="Name to store it under (default: METHOD-mean).")
@force_option
@click.pass_context
def order_cmd(
    ctx: click.Context,
    file: str,
    layer: str,
    method: str,
    label: str,
    name: str | None,
    force: bool,
) -> None:
    """Order LAYER's channels on its mean map over many images (from `volviz dataset stats`)."""
    from volviz.store.aggregates import order_from_stats

    stored = order_from_stats(file, layer, method, label=label, name=name, force=force)
    ratio = stored.metrics.get("ratio_to_original")
    shown = f"{ratio:.3f}" if isinstance(ratio, float) else str(ratio)
    where = f"/layers/{layer}/orderings/{stored.name}"
    info_line(ctx, f"stored {where} in {file} (path / original: {shown})")
