"""``volviz heatmap``: 2D PNG exports: feature-map grids of a layer, conv filter grids."""

from __future__ import annotations

import click

from volviz.cli.options import force_option, info_line


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.option("--layer", required=True, help="Layer key (store) or conv module name (--filters).")
@click.option("--image", default="0", show_default=True, help="Image index or name.")
@click.option("--ordering", default=None, help="Show tiles in a stored ordering, with separators.")
@click.option("--cmap", default=None, help="Colormap (default: viridis; RdBu_r for filters).")
@click.option("--filters", is_flag=True, help="Grid of a model's conv filters instead (--model).")
@click.option("-m", "--model", default="efficientnet-lite0", show_default=True)
@click.option("--weights", default=None, help="As for `volviz capture`.")
@force_option
@click.pass_context
def heatmap(
    ctx: click.Context,
    file: str | None,
    out: str,
    layer: str,
    image: str,
    ordering: str | None,
    cmap: str | None,
    filters: bool,
    model: str,
    weights: str | None,
    force: bool,
) -> None:
    """Feature-map grid of LAYER for one IMAGE of FILE (PNG + the raw .npy beside it).

    Each tile is labelled with its original channel index, also when --ordering reorders them.
    With --filters, draws the conv weights of LAYER in --model (RGB when it has 3 inputs).
    """
    import exporters

    if filters:
        written = _filters(out, layer, model, weights, cmap, force)
    else:
        if file is None:
            raise click.UsageError("give a store FILE (or --filters with --model)")
        written = _feature_grid(out, file, layer, image, ordering, cmap, force)
    for path in written:
        info_line(ctx, f"wrote {path}")
    del exporters


def _feature_grid(
    out: str,
    file: str,
    layer: str,
    image: str,
    ordering: str | None,
    cmap: str | None,
    force: bool,
) -> list:
    import exporters
    from volviz.store import Store
    from volviz.store.views import layer_view

    with Store(file) as store:
        view = layer_view(store, layer, [image], ordering=None)
        order = store.ordering(layer, ordering) if ordering else None
    clusters = None
    if order is not None:
        from volviz.store.views import cluster_labels

        clusters = cluster_labels(order.order, order.boundaries)
    return exporters.feature_grid(
        out,
        view.data,
        order=None if order is None else order.order,
        clusters=clusters,
        layer=layer,
        image=view.images[0],
        cmap=cmap or "viridis",
        metadata={k: v for k, v in view.metadata.items() if k != "volviz_channel_order"},
        overwrite=force,
    )


def _filters(
    out: str, layer: str, model: str, weights: str | None, cmap: str | None, force: bool
) -> list:
    import exporters
    from volviz.capture.layers import resolve_layers
    from volviz.capture.models import load_model

    loaded = load_model(model, weights=weights, device="cpu")
    name = resolve_layers(loaded.module, [layer])[0]
    weight = getattr(dict(loaded.module.named_modules())[name], "weight", None)
    if weight is None or weight.ndim != 4:
        raise click.BadParameter(
            f"{layer!r} has no conv weight (O, I, kh, kw)", param_hint="--layer"
        )
    return exporters.filter_grid(
        out,
        weight.detach().cpu().numpy(),
        layer=f"{loaded.name} {name}",
        cmap=cmap or "RdBu_r",
        overwrite=force,
    )
