"""``volviz info``: a store's provenance, layers, every other group, inputs and predictions."""

from __future__ import annotations

from typing import Any

import click

from volviz.cli.options import console

SCREEN_ROWS = 20  # longer tables show their head and tail (all rows with -v)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
def info(file: str) -> None:
    """Summarize a store: provenance, layers and shapes, every other group (gradients,
    importance, attributions, orderings, analysis, timeline) with its datasets' shapes,
    inputs and predictions. Long tables are cut to a screenful; -v shows every row."""
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
        table = Table(title=f"{len(store.layers)} activation layers")
        for column in ("layer", "type", "shape (N, C, H, W)", "dtype", "chunks"):
            table.add_column(column)
        for layer in store.layers:
            ds = store.activations(layer)
            kind = str(store.layer_group(layer).attrs.get("module_type", ""))
            table.add_row(layer, kind, str(ds.shape), str(ds.dtype), str(ds.chunks))
        out.print(table)
        print_contents(store)
        if summary := run_summary(store):
            out.print(summary[:1].upper() + summary[1:])
        print_predictions(store)


def shown_rows(n: int) -> list[int | None]:
    """Row indices to print of ``n``: all with -v or when they fit a screen, else head and
    tail around one ``None`` (the "... more" row)."""
    from volviz.cli.verbose import verbosity

    ctx = click.get_current_context(silent=True)
    if n <= SCREEN_ROWS or (ctx is not None and verbosity(ctx) > 0):
        return list(range(n))
    head = SCREEN_ROWS - 5
    return [*range(head), None, *range(n - 4, n)]


def _more_row(n: int, columns: int) -> list[str]:
    return ["...", f"{n - SCREEN_ROWS + 1:,} more rows (-v shows all)"] + [""] * (columns - 2)


def print_contents(store: Any) -> None:
    """Every dataset outside the layers' activations and the inputs table, with its shape:
    gradients, importance, attributions, orderings, analysis, timeline, predictions."""
    import h5py
    from rich.table import Table

    rows: list[tuple[str, str, str]] = []

    def visit(name: str, node: Any) -> None:
        skip = name.startswith("inputs/") or (
            name.startswith("layers/") and name.endswith("/activations")
        )
        if isinstance(node, h5py.Dataset) and not skip:
            rows.append((name, str(node.shape), str(node.dtype)))

    store.file.visititems(visit)
    groups = sorted({r[0].split("/")[0] for r in rows})
    table = Table(title=f"other contents: {', '.join(groups) or 'none'}")
    for column in ("dataset", "shape", "dtype"):
        table.add_column(column)
    for i in shown_rows(len(rows)):
        table.add_row(*(_more_row(len(rows), 3) if i is None else rows[i]))
    console().print(table)


def print_predictions(store: Any) -> None:
    """Table of the inputs with label and top-5 predictions (when stored); a long one is cut
    to its head and tail unless -v."""
    from rich.table import Table

    preds = store.predictions()
    table = Table(title=f"{store.n_images} inputs")
    for column in ("#", "name", "label", "top-5 (class: probability)"):
        table.add_column(column)
    names = preds.get("class_names") if preds else None
    inputs = store.inputs
    for i in shown_rows(len(inputs)):
        if i is None:
            table.add_row(*_more_row(len(inputs), 4))
            continue
        record = inputs[i]
        top = ""
        if preds is not None:
            top = ", ".join(
                f"{int(c)} {names[int(c)] if names is not None else ''}: {p:.3f}"
                for c, p in zip(preds["top_index"][i], preds["top_prob"][i], strict=True)
            )
        table.add_row(str(i), record["name"], record["label"], top)
    console().print(table)
