"""``volviz layers``, ``volviz info`` and ``volviz validate``: look at models and stores."""

from __future__ import annotations

from typing import Any

import click

from volviz.cli.options import console, model_options


@click.command()
@click.argument("model", default="efficientnet-lite0")
@click.option("--conv-only", is_flag=True, help="List convolution layers only.")
@model_options
def layers(model: str, conv_only: bool, weights: str | None, seed: int, device: str) -> None:
    """List MODEL's layers: dotted name, type and output shape for one input."""
    import torch
    from rich.table import Table

    from volviz.capture.layers import CONV_TYPES, layer_table
    from volviz.capture.models import load_model

    loaded = load_model(model, weights=weights or "random", seed=seed, device=device)
    x = torch.zeros((1, *loaded.input_shape), device=loaded.device)
    rows = layer_table(loaded.module, x)
    modules = dict(loaded.module.named_modules())
    table = Table(title=f"{loaded.name}: input {tuple(x.shape)}")
    for column in ("layer", "type", "output shape", "calls"):
        table.add_column(column)
    for row in rows:
        if conv_only and not isinstance(modules[row.name], CONV_TYPES):
            continue
        shape = "x".join(str(s) for s in row.shape) if row.shape else "-"
        table.add_row(row.name, row.type, shape, str(row.calls))
    console().print(table)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
def info(file: str) -> None:
    """Summarize a store: provenance, layers and shapes, inputs and predictions."""
    from rich.table import Table

    from volviz.store import Store

    with Store(file) as store:
        prov = store.provenance
        out = console()
        out.print(f"[bold]{file}[/bold]  volviz store {store.version}")
        for key in ("model", "weights", "weights_sha256", "created", "device", "dtype"):
            if key in prov:
                out.print(f"  {key}: {prov[key]}")
        table = Table(title=f"{len(store.layers)} layers")
        for column in ("layer", "type", "shape (N, C, H, W)", "dtype", "chunks"):
            table.add_column(column)
        for layer in store.layers:
            ds = store.activations(layer)
            kind = str(store.layer_group(layer).attrs.get("module_type", ""))
            table.add_row(layer, kind, str(ds.shape), str(ds.dtype), str(ds.chunks))
        out.print(table)
        print_predictions(store)


def print_predictions(store: Any) -> None:
    """Table of every input with its label and top-5 predictions (when stored)."""
    from rich.table import Table

    preds = store.predictions()
    table = Table(title=f"{store.n_images} inputs")
    for column in ("#", "name", "label", "top-5 (class: probability)"):
        table.add_column(column)
    names = preds.get("class_names") if preds else None
    for i, record in enumerate(store.inputs):
        top = ""
        if preds is not None:
            top = ", ".join(
                f"{int(c)} {names[int(c)] if names is not None else ''}: {p:.3f}"
                for c, p in zip(preds["top_index"][i], preds["top_prob"][i], strict=True)
            )
        table.add_row(str(i), record["name"], record["label"], top)
    console().print(table)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check FILE against the store format (docs/format.md); exit 1 with the reasons if not."""
    from volviz.store import validate as check_file

    problems = check_file(file)
    if problems:
        for problem in problems:
            click.echo(f"invalid: {problem}", err=True)
        raise SystemExit(1)
    click.echo(f"{file}: valid volviz store")
