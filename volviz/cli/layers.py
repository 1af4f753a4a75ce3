"""``volviz layers``: a model's modules with their types and output shapes."""

from __future__ import annotations

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
