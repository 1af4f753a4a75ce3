"""``volviz report``: a self-contained HTML report of a store."""

from __future__ import annotations

import click

from volviz.cli.options import force_option, info_line, progress_bar


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="Folder.")
@click.option("--layer", "layers", multiple=True, help="Layer (repeatable); default: up to 6.")
@click.option("--image", default="0", show_default=True, help="Image index or name shown.")
@click.option("--no-3d", is_flag=True, help="Skip 3D screenshots (no OpenGL needed).")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes for the layers' pictures and statistics  [default: one per core; "
    "-j 1 on a machine other processes keep busy].",
)
@force_option
@click.pass_context
def report(
    ctx: click.Context,
    file: str,
    out: str,
    layers: tuple[str, ...],
    image: str,
    no_3d: bool,
    jobs: int | None,
    force: bool,
) -> None:
    """Write OUT/index.html: per layer 3D views (original and ordered), feature-map grid,
    statistics, histograms, the seriated correlation matrix and voxel downloads. It opens
    offline: no scripts, no remote resources. The layers are worked on in parallel, one
    process per core (--jobs).
    """
    from volviz.report.html import build_report

    with progress_bar(ctx, "writing report") as update:
        page = build_report(
            file,
            out,
            layers=layers,
            image=image,
            force=force,
            render=not no_3d,
            jobs=jobs,
            progress=update,
        )
    info_line(ctx, f"wrote {page}")
