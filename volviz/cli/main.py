"""The ``volviz`` command: a click group; one module per subcommand."""

from __future__ import annotations

from typing import Any

import click

from volviz import __version__
from volviz.cli import (
    analyze,
    attribute,
    capture,
    compare,
    dataset,
    demo,
    export,
    gradients,
    heatmap,
    importance,
    importer,
    info,
    layers,
    order,
    render,
    report,
    serve,
    similarity,
    validate,
    view,
)
from volviz.cli.errors import VolvizGroup


@click.group(cls=VolvizGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="volviz")
@click.option("-v", "--verbose", count=True, help="More output.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or informational lines.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """See what a convolutional network computes, as 3D volumes.

    Capture conv activations into a self-describing HDF5 store, inspect it, render it.
    """
    ctx.obj = {"verbose": verbose, "quiet": quiet}


cli.add_command(demo.demo)
cli.add_command(layers.layers)
cli.add_command(capture.capture)
cli.add_command(dataset.dataset)
cli.add_command(info.info)
cli.add_command(validate.validate)
cli.add_command(render.render)
cli.add_command(view.view)
cli.add_command(serve.serve)
cli.add_command(order.order)
cli.add_command(analyze.analyze)
cli.add_command(similarity.similarity)
cli.add_command(report.report)
cli.add_command(export.export)
cli.add_command(heatmap.heatmap)
cli.add_command(gradients.gradients)
cli.add_command(compare.compare)
cli.add_command(importance.importance)
cli.add_command(importer.import_)
cli.add_command(attribute.attribute)


def main(argv: list[str] | None = None) -> Any:
    """Entry point; ``argv`` for tests, ``None`` reads ``sys.argv``."""
    return cli.main(args=argv, prog_name="volviz")
