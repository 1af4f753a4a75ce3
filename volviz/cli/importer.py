"""``volviz import``: external .npy volumes and weight gradients into a store."""

from __future__ import annotations

from typing import Any

import click

from volviz.cli.options import (
    force_option,
    info_line,
)
from volviz.cli.targets import (
    command_line,
)


@click.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--store", "out", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--kind",
    type=click.Choice(["auto", "activations", "gradients"]),
    default="auto",
    show_default=True,
    help="auto: (C, H, W) arrays are activation volumes, (O, I, kh, kw) weight gradients.",
)
@click.option("--layer", default=None, help="Layer key (default: file name before '_').")
@click.option("--name", default="imported", show_default=True, help="Gradient run name.")
@click.option("--target", default="", help="What the gradients are of (recorded as text).")
@force_option
@click.pass_context
def import_(ctx: click.Context, files: tuple[str, ...], **kw: Any) -> None:
    """Put external .npy arrays (one image each) into a new store.

    Activation volumes become a layer (one image per file); weight gradients become a run
    under /gradients (one image per file, plus sum and mean). Example:

        volviz import tests/data/cnn-vis/gradients/conv1_pembroke.npy -o legacy.h5
    """
    from volviz.store.results import import_npy

    summary = import_npy(
        list(files),
        kw["out"],
        kind=kw["kind"],
        layer=kw["layer"],
        name=kw["name"],
        target=kw["target"],
        force=kw["force"],
        attrs={"command": command_line()},
    )
    info_line(ctx, f"wrote {kw['out']}:{summary['path']} {summary['kind']} {summary['shape']}")
