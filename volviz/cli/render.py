"""``volviz render``: one layer's volume for one image, offscreen, to a PNG."""

from __future__ import annotations

from pathlib import Path

import click

from volviz.cli.options import force_option, info_line


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--layer", required=True, help="Layer key as listed by `volviz info`.")
@click.option("--image", default="0", show_default=True, help="Image index or name.")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.option(
    "--normalize",
    type=click.Choice(["percentile", "minmax", "channel"]),
    default="percentile",
    show_default=True,
    help="Display scaling (the stored data stays raw).",
)
@click.option("--cmap", default="inferno", show_default=True)
@click.option("--size", default="800x600", show_default=True, help="Window WIDTHxHEIGHT.")
@force_option
@click.pass_context
def render(
    ctx: click.Context,
    file: str,
    layer: str,
    image: str,
    out: str,
    normalize: str,
    cmap: str,
    size: str,
    force: bool,
) -> None:
    """Render LAYER of one IMAGE from FILE as a 3D volume into a PNG.

    Axes: x = column, y = row, z = channel.
    """
    from volviz.render.volume import save_screenshot, volume_plotter
    from volviz.store import Store

    window = _parse_size(size)
    target = Path(out)
    if target.suffix.lower() != ".png":
        raise click.BadParameter(f"{out!r} must end in .png", param_hint="--out")
    if target.exists() and not force:
        raise click.ClickException(f"output {out!r} exists; pass --force to replace it")
    with Store(file) as store:
        index = store.image_index(image)
        volume = store.volume(layer, index)
        name = store.inputs[index]["name"]
    plotter = volume_plotter(
        volume,
        title=f"{layer}  image {index} ({name})  {'x'.join(map(str, volume.shape))}",
        normalization=normalize,
        cmap=cmap,
        window_size=window,
    )
    save_screenshot(plotter, target)
    info_line(ctx, f"wrote {out}")


def _parse_size(size: str) -> tuple[int, int]:
    parts = size.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and 16 <= int(p) <= 8192 for p in parts):
        raise click.BadParameter(f"{size!r} is not WIDTHxHEIGHT (16..8192)", param_hint="--size")
    return int(parts[0]), int(parts[1])
