"""``volviz render``: any scene of a store (or .npy arrays) to PNG, GIF/MP4 or HTML, offscreen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from volviz.cli.errors import api_names
from volviz.cli.options import (
    DISPLAY_SCALINGS,
    force_option,
    info_line,
    parse_size,
    preset_option,
)
from volviz.cli.verbose import detail, file_detail, stage

SCENES = ("volume", "threshold", "isosurface", "slices", "channel", "stack", "compare")
OUT_SUFFIXES = (".png", ".gif", ".mp4", ".html")


@api_names(
    path="npys", dataset="datasets", image="images", index="images", layer="layers", store="file"
)
@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--scene", type=click.Choice(SCENES), default="volume", show_default=True)
@click.option("--layer", "layers", multiple=True, help="Layer key (repeat for compare).")
@click.option("--image", "images", multiple=True, help="Image index or name (repeat for compare).")
@click.option(
    "-o", "--out", required=True, type=click.Path(dir_okay=False), help="PNG, GIF, MP4 or HTML."
)
@click.option(
    "--normalize",
    type=click.Choice(DISPLAY_SCALINGS),
    default=None,
    help="Display scaling (the stored data stays raw). [default: percentile; "
    "symmetric for weights/gradients]",
)
@click.option("--cmap", default=None, help="Colour map. [default: inferno; coolwarm if symmetric]")
@preset_option(None, " [default: ramp; diverging if symmetric]")
@click.option("--opacity-scale", type=float, default=1.0, show_default=True)
@click.option("--spacing", default="auto", show_default=True, help="auto or DZ,DY,DX (box shape).")
@click.option("--level", type=float, help="Threshold as a raw value (threshold/isosurface).")
@click.option("--percentile", type=float, help="Threshold as a percentile (default 95).")
@click.option("--channel", type=int, help="Original channel index (channel, slices).")
@click.option("--row", type=int, help="Row of the row plane (slices).")
@click.option("--column", type=int, help="Column of the column plane (slices).")
@click.option("--ordering", help="Show channels in this stored ordering.")
@click.option(
    "--gap", type=int, default=0, show_default=True, help="Empty slices between clusters."
)
@click.option("--bands", is_flag=True, help="Colour bands beside the volume per cluster.")
@click.option("--difference", is_flag=True, help="compare: add a panel with a - b.")
@click.option("--npy", "npys", multiple=True, type=click.Path(dir_okay=False), help=".npy array.")
@click.option("--dataset", "datasets", multiple=True, help="HDF5 dataset path inside FILE.")
@click.option(
    "--reduce",
    type=click.Choice(["sum", "abs", "l2"]),
    default="sum",
    show_default=True,
    help="Input-channel reduction of (O, I, kh, kw) weights/gradients.",
)
@click.option("--columns", type=int, help="stack: layers per row.")
@click.option("--channel-scale", type=click.Choice(["sqrt", "linear"]), default="sqrt")
@click.option("--frames", type=int, default=36, show_default=True, help="GIF/MP4 frames.")
@click.option("--fps", type=int, default=12, show_default=True)
@click.option("--size", default="800x600", show_default=True, help="Window WIDTHxHEIGHT.")
@click.option(
    "--time",
    "over_time",
    is_flag=True,
    help="A training run (volviz.track): one frame per recorded step (GIF/MP4, HTML with a "
    "step slider, PNG contact sheet of up to 8 steps).",
)
@click.option(
    "--time-ordering",
    type=click.Choice(["none", "first", "final"]),
    default=None,
    help="--time: channel order for every frame, fitted once ('best') on the first or final "
    "step. [default: final; --ordering NAME uses a stored one]",
)
@click.option(
    "--series",
    type=click.Choice(["activations", "weight", "weight_grad"]),
    default="activations",
    show_default=True,
    help="--time: probe activations of --image, or the conv weights / weight gradients "
    "(reduced over inputs by --reduce).",
)
@force_option
@click.pass_context
def render(ctx: click.Context, file: str | None, out: str, force: bool, **opts: Any) -> None:
    """Render a scene of FILE offscreen into --out (.png, .gif/.mp4 orbit, .html page).

    Axes: x = column, y = row, z = channel. Scenes: volume, threshold (voxels at or above
    --level/--percentile), isosurface, slices (three planes), channel (one map), stack
    (every conv layer of one image), compare (2-4 --image/--layer/--npy/--dataset, or one
    layer in original vs --ordering order). Weights and gradients (O, I, kh, kw) come in
    with --npy or --dataset and are reduced over I by --reduce.

    --time animates a training run written by volviz.track over its recorded steps, with one
    channel order and one display range for all frames (--frames N: at most N steps).
    """
    from volviz.render.volume import Style
    from volviz.store.views import parse_spacing
    from volviz.store.writer import check_target

    target = Path(out)
    suffix = target.suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise click.BadParameter(
            f"{out!r} must end in {', '.join(OUT_SUFFIXES)}", param_hint="--out"
        )
    check_target(target, force=force)  # before any work: nothing rendered in vain
    signed = bool(opts["npys"] or opts["datasets"])
    signed |= opts["over_time"] and opts["series"] != "activations"
    norm = opts["normalize"] or ("symmetric" if signed else "percentile")
    symmetric = norm == "symmetric"
    style = Style(
        normalization=norm,
        cmap=opts["cmap"] or ("coolwarm" if symmetric else "inferno"),
        preset=opts["preset"] or ("diverging" if symmetric else "ramp"),
        opacity_scale=opts["opacity_scale"],
        spacing=parse_spacing(opts["spacing"]),
        window_size=parse_size(opts["size"]),
        quantity=_quantity(opts),
    )
    detail(
        ctx,
        f"  scene {opts['scene']}, {style.window_size[0]}x{style.window_size[1]} px, "
        f"display {norm}, colour map {style.cmap}, opacity {style.preset}",
    )
    if opts["over_time"]:
        with stage(ctx, "read, build and write the time series"):
            _render_time(ctx, file, target, opts, style)
    else:
        with stage(ctx, "read the data and build the scene"):
            scene = _build(file, opts, style)
        with stage(ctx, f"draw and write {suffix[1:].upper()}"):
            _write(scene, style, target, suffix, opts)
    file_detail(ctx, target)
    info_line(ctx, f"wrote {out}")


def _render_time(
    ctx: click.Context, file: str | None, target: Path, opts: dict[str, Any], style: Any
) -> None:
    """``--time``: the chosen layer's series over recorded steps, in one stable order."""
    from volviz.render import animate, time_html, timeline
    from volviz.render.load import read_ordering
    from volviz.render.ordered import ChannelOrder
    from volviz.store import Store
    from volviz.store.timeline import Timeline

    if file is None or opts["npys"] or opts["datasets"]:
        raise click.UsageError("--time needs FILE (a store written by volviz.track)")
    if opts["scene"] != "volume":
        raise click.UsageError(f"--time draws --scene volume, not --scene {opts['scene']}")
    if len(opts["layers"]) != 1 or len(opts["images"]) > 1:
        raise click.UsageError("--time takes one --layer NAME and at most one --image")
    if opts["ordering"] and opts["time_ordering"]:
        raise click.UsageError("give --ordering NAME (stored) or --time-ordering, not both")
    layer = opts["layers"][0]
    with Store(file) as store:
        line = Timeline(store)
        image = store.image_index(opts["images"][0] if opts["images"] else "0")
        frames = timeline.pick_frames(
            line.n_steps, opts["frames"] if _given(ctx, "frames") else None
        )
        series = timeline.load_series(
            line, layer, image=image, data=opts["series"], reduce=opts["reduce"], frames=frames
        )
        order: ChannelOrder | None
        if opts["ordering"]:
            order = read_ordering(store, layer, opts["ordering"])
        else:
            order = timeline.stable_order(series.volumes, opts["time_ordering"] or "final")
    scene = timeline.TimeScene(
        series, style=style, order=order, gap=opts["gap"], bands=opts["bands"]
    )
    suffix = target.suffix.lower()
    if suffix == ".png":
        timeline.write_sheet(scene, target, columns=opts["columns"])
    elif suffix == ".html":
        time_html.write_time_html(scene, target)
    else:
        fps = opts["fps"] if _given(ctx, "fps") else 4  # a few records: slower than orbits
        animate.write_time_animation(scene, target, fps=fps)


def _quantity(opts: dict[str, Any]) -> str:
    """What the colour bar's values are: activations of a store, else gradients or weights."""
    if opts["over_time"]:
        names = {"weight": "weight", "weight_grad": "weight gradient"}
        return names.get(opts["series"], "activation")
    sources = " ".join(map(str, (*opts["npys"], *opts["datasets"]))).lower()
    if not sources:
        return "activation"
    return "gradient" if "grad" in sources else "weight" if "weight" in sources else "value"


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT


def _build(file: str | None, opts: dict[str, Any], style: Any) -> Any:
    """The scene model (:mod:`volviz.render.build`) of the options."""
    from dataclasses import fields

    from volviz.render.build import SceneSpec, scene_model

    names = {f.name for f in fields(SceneSpec)}
    spec = SceneSpec(**{k: v for k, v in opts.items() if k in names})
    if file is None:
        return scene_model(None, spec, style)
    from volviz.store import Store

    with Store(file) as store:
        _warn_no_clusters(store, opts)
        return scene_model(store, spec, style)


def _warn_no_clusters(store: Any, opts: dict[str, Any]) -> None:
    """``--gap``/``--bands`` separate clusters: say so when the ordering has none."""
    if not opts["ordering"] or not (opts["gap"] or opts["bands"]):
        return
    for layer in opts["layers"]:
        stored = store.ordering(layer, opts["ordering"])
        if len(stored.boundaries) == 0:
            click.echo(
                f"Warning: ordering {opts['ordering']!r} of layer {layer!r} ({stored.method}) "
                "has no clusters, so --gap and --bands draw nothing; order with a clustering "
                "method (kmeans-row, or olo with --param n_clusters=N) to separate them",
                err=True,
            )


def _write(scene: Any, style: Any, target: Path, suffix: str, opts: dict[str, Any]) -> None:
    """HTML from the scene model with plotly; PNG, GIF and MP4 from it drawn with PyVista."""
    if suffix == ".html":
        from volviz.render.html import write_html

        write_html(scene, target)
        return
    from volviz.render.draw import draw

    plotter = draw(scene, style)
    if suffix == ".png":
        from volviz.render.volume import save_screenshot

        save_screenshot(plotter, target)
    else:
        from volviz.render.animate import write_orbit

        write_orbit(plotter, target, frames=opts["frames"], fps=opts["fps"])
