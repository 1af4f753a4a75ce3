"""``volviz similarity``: CKA between layers, between two stores, and over training steps."""

from __future__ import annotations

from typing import Any

import click

from volviz.cli.options import console, force_option, info_line, layer_list, progress_bar


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("file2", required=False, type=click.Path(dir_okay=False))
@click.option("--kind", type=click.Choice(["linear", "rbf"]), default="linear", show_default=True)
@click.option(
    "-l",
    "--layers",
    default=None,
    help="Comma-separated layer keys of FILE (default: all; NAME+post in place of NAME "
    "when both are stored).",
)
@click.option("--layers2", default=None, help="Layer keys of FILE2 (default: as --layers).")
@click.option(
    "--batch-size",
    type=int,
    default=64,
    show_default=True,
    help="Images per minibatch of the streaming estimator (at least 4).",
)
@click.option(
    "--threshold",
    type=float,
    default=1.0,
    show_default=True,
    help="RBF bandwidth as a fraction of the median distance.",
)
@force_option
@click.pass_context
def similarity(
    ctx: click.Context,
    file: str,
    file2: str | None,
    kind: str,
    layers: str | None,
    layers2: str | None,
    batch_size: int,
    threshold: float,
    force: bool,
) -> None:
    """CKA similarity (Kornblith et al. 2019), stored under /analysis/similarity in FILE.

    FILE alone: every pair of its layers (and, for a run tracked with volviz.track, each
    layer at every recorded step against its final state). FILE FILE2: each layer of FILE
    against each layer of FILE2 on the images both hold (matched by content SHA-256): two
    models, or one model before and after fine-tuning. Images are streamed in minibatches
    (the unbiased estimator of Nguyen et al. 2021), so memory does not grow with their number.
    """
    from volviz.analysis import similarity as sim
    from volviz.store import Store

    rows = layer_list(layers) if layers else None
    cols = layer_list(layers2) if layers2 else None
    results = []
    with Store(file) as store:
        wanted = ["pair"] if file2 else ["layers", "training"][: 1 + ("timeline" in store.file)]
        _check_free(store, [f"{w}-{kind}" for w in wanted], force=force)
    with Store(file) as store, progress_bar(ctx, f"CKA ({kind})") as update:
        options: dict[str, Any] = {"kind": kind, "threshold": threshold, "progress": update}
        if file2 is not None:
            with Store(file2) as other:
                results.append(
                    sim.pair_similarity(store, other, rows, cols, batch_size=batch_size, **options)
                )
        else:
            results.append(sim.layer_similarity(store, rows, batch_size=batch_size, **options))
            if "timeline" in store.file:
                results.append(sim.training_similarity(store, rows, **options))
    for result in results:
        sim.save_similarity(file, result, force=force)
        _summary(result)
    names = ", ".join(r.name for r in results)
    info_line(ctx, f"stored under /analysis/similarity ({names}) in {file}")


def _check_free(store: Any, names: list[str], *, force: bool) -> None:
    """Fail before any work when a result exists and --force is off."""
    from volviz.analysis.similarity import stored_similarities

    taken = set(stored_similarities(store))
    for name in names:
        if name in taken and not force:
            msg = f"/analysis/similarity/{name} exists in {store.path.name}; pass --force"
            raise click.ClickException(msg)


def _summary(result: Any) -> None:
    import numpy as np
    from rich.table import Table

    m = result.matrix
    title = (
        f"CKA ({result.kind}) {result.what}: {result.n_images} images, "
        f"{result.n_batches} minibatch(es) of ~{result.n_images // result.n_batches}"
    )
    console().print(title)
    table = Table()
    if result.what == "training":
        for column in ("layer", f"CKA at step {result.rows[0]}", "first step >= 0.9"):
            table.add_column(column, justify="left" if column == "layer" else "right")
        for j, layer in enumerate(result.cols):
            above = np.flatnonzero(m[:, j] >= 0.9)
            first = result.rows[int(above[0])] if len(above) else "-"
            table.add_row(layer, f"{m[0, j]:.3f}", first)
    else:
        own = result.what == "layers"
        for column in ("layer", "next layer" if own else "", "most similar", "CKA"):
            table.add_column(column, justify="left" if column != "CKA" else "right")
        for i, layer in enumerate(result.rows):
            row = m[i].copy()
            nxt = f"{m[i, i + 1]:.3f}" if own and i + 1 < len(row) else ""
            if own:
                row[i] = -np.inf
            best = int(np.nanargmax(row)) if np.isfinite(row).any() else 0
            table.add_row(layer, nxt, result.cols[best], f"{m[i, best]:.3f}")
    console().print(table)
