"""``volviz order``: reorder a layer's channels so similar maps sit together."""

from __future__ import annotations

import json
from typing import Any

import click

from volviz.cli.errors import KEY_VALUE, api_names
from volviz.cli.options import console, force_option, info_line

METHOD_NAMES = ["best", "cnnvis-pca", "kmeans-row", "pca-row", "olo", "spectral", "tsp"]


@api_names(X=("npy", "layers"), **{KEY_VALUE: "params"})
@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--layer", "layers", multiple=True, help="Layer key (repeatable); default: all.")
@click.option("--method", type=click.Choice(METHOD_NAMES), default="best", show_default=True)
@click.option("--image", default=None, help="Fit on this image (index or name) only.")
@click.option("--all-images", is_flag=True, help="Fit on all images of the layer (default).")
@click.option("--name", default=None, help="Name to store it under (default: the method).")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Estimator parameter, e.g. n_clusters=8, metric=correlation, row=27 (repeatable).",
)
@click.option("--npy", type=click.Path(dir_okay=False), help="Order a bare (C, H, W) .npy file.")
@click.option("--json", "as_json", is_flag=True, help="Print {order, metrics} as JSON.")
@force_option
@click.pass_context
def order(
    ctx: click.Context,
    file: str | None,
    layers: tuple[str, ...],
    method: str,
    image: str | None,
    all_images: bool,
    name: str | None,
    params: tuple[str, ...],
    npy: str | None,
    as_json: bool,
    force: bool,
) -> None:
    """Order the channels of LAYER(s) in FILE and store the permutation with its metrics.

    The data is never stored reordered: renderers and exporters apply a stored ordering with
    --ordering NAME and map each displayed slice back to its original channel.
    """
    import ordering as orderings

    kwargs = _parse_params(params)
    if image is not None and all_images:
        raise click.UsageError("--image and --all-images exclude each other")
    if npy is not None:
        if file is not None:
            raise click.UsageError("give FILE or --npy, not both")
        fitted = orderings.fit_order(_load_npy(npy), method, **kwargs)
        _report(ctx, npy, method, fitted, as_json)
        return
    if file is None:
        raise click.UsageError("give a store FILE or --npy VOLUME.npy")
    _order_store(ctx, file, layers, method, image, name or method, kwargs, as_json, force)


def _order_store(
    ctx: click.Context,
    file: str,
    layers: tuple[str, ...],
    method: str,
    image: str | None,
    name: str,
    kwargs: dict[str, Any],
    as_json: bool,
    force: bool,
) -> None:
    from volviz.store import Store
    from volviz.store.orderings import (
        StoredOrdering,
        plain_metrics,
        save_ordering,
    )

    with Store(file) as store:
        chosen = list(layers) or store.layers
        index = None if image is None else [store.image_index(image)]
        for layer in chosen:
            store.layer_group(layer)  # unknown layer: fail before any work
            if name in store.orderings(layer) and not force:
                msg = f"ordering {name!r} of layer {layer!r} exists; pass --force to replace it"
                raise click.ClickException(msg)
        fitted = {layer: _fit(store, layer, index, method, kwargs) for layer in chosen}
    results = {}
    for layer, est in fitted.items():
        stored = StoredOrdering(
            name=name,
            order=est.order_,
            boundaries=est.boundaries_,
            method=method,
            params=est.get_params(),
            metrics=plain_metrics(est.metrics_),
            images=index if index is not None else "all",
        )
        save_ordering(file, layer, stored, force=force)
        results[layer] = stored
    if as_json:
        click.echo(json.dumps({k: _as_dict(v.order, v.metrics) for k, v in results.items()}))
        return
    _metrics_table({k: v.metrics for k, v in results.items()}, f"{method} -> {name}")
    for layer in results:
        info_line(ctx, f"stored as /layers/{layer}/orderings/{name} in {file}")


def _fit(
    store: Any, layer: str, index: list[int] | None, method: str, kwargs: dict[str, Any]
) -> Any:
    """Fit ``method`` on ``layer``; an error about the data names the layer it came from."""
    import ordering as orderings
    from volviz.store.orderings import ordering_input

    try:
        return orderings.fit_order(ordering_input(store, layer, index), method, **kwargs)
    except orderings.OrderingError as exc:
        if exc.param == "X":
            exc.value = layer
        raise


def _report(ctx: click.Context, source: str, method: str, est: Any, as_json: bool) -> None:
    from volviz.store.orderings import plain_metrics

    metrics = plain_metrics(est.metrics_)
    if as_json:
        click.echo(json.dumps(_as_dict(est.order_, metrics)))
    else:
        _metrics_table({source: metrics}, method)
        info_line(ctx, "order: " + " ".join(str(int(i)) for i in est.order_))


def _as_dict(order: Any, metrics: dict[str, Any]) -> dict[str, Any]:
    return {"order": [int(i) for i in order], "metrics": metrics}


def _metrics_table(rows: dict[str, dict[str, Any]], title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    columns = [
        ("layer", None),
        ("channels", "n_items"),
        ("path", "path_length"),
        ("original", "original_path_length"),
        ("random mean", "random_mean_path_length"),
        ("MST bound", "mst_bound"),
        ("path / MST", "ratio_to_mst"),
        ("path / original", "ratio_to_original"),
    ]
    for label, _ in columns:
        table.add_column(label, justify="left" if label == "layer" else "right")
    for layer, metrics in rows.items():
        cells = [layer]
        for _, key in columns[1:]:
            value = metrics.get(key or "", "")
            if value is None:  # a ratio of 0 / 0: identical maps, no order is better
                value = "n/a"
            cells.append(f"{value:,.3f}" if isinstance(value, float) else str(value))
        table.add_row(*cells)
    console().print(table)


def _parse_params(params: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in params:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _load_npy(path: str) -> Any:
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(
            f"{path!r} is not a readable .npy array ({exc})", param_hint="--npy"
        ) from None
