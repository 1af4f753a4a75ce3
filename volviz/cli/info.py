"""``volviz info``: a store's provenance, layers, inputs and predictions."""

from __future__ import annotations

from typing import Any

import click

from volviz.cli.options import console


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
def info(file: str) -> None:
    """Summarize a store: provenance, layers and shapes, inputs and predictions."""
    from rich.table import Table

    from volviz.store import Store
    from volviz.store.validate import run_summary

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
        if summary := run_summary(store):
            out.print(summary[:1].upper() + summary[1:])
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
