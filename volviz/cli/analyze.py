"""``volviz analyze``: per-layer statistics into the store, and a summary table."""

from __future__ import annotations

import click

from volviz.cli.options import console, force_option, info_line, progress_bar


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--layer",
    "layers",
    multiple=True,
    help="Layer key (repeatable); default: every layer, a raw output skipped when its "
    "post-activation (NAME+post) is stored.",
)
@click.option("--top-k", type=int, default=5, show_default=True, help="Top images per channel.")
@force_option
@click.pass_context
def analyze(
    ctx: click.Context, file: str, layers: tuple[str, ...], top_k: int, force: bool
) -> None:
    """Sparsity, dead and always-on channels, per-channel statistics, top images per
    channel and the ordered channel correlation matrix of each layer, stored under
    /analysis/<layer> in FILE.

    Sparsity and dead channels mean what the next layer sees only on post-activation keys
    (capture --stage post); the table says which stage each row comes from.
    """
    from volviz.analysis.stats import describe_stage, layer_stats, prefer_post
    from volviz.store import Store
    from volviz.store.analysis import analyzed_layers, save_stats

    with Store(file) as store:
        chosen = list(layers) or prefer_post(store.layers)
        for layer in chosen:
            store.layer_group(layer)
        existing = set(analyzed_layers(store)) & set(chosen)
        if existing and not force:
            first = sorted(existing)[0]
            raise click.ClickException(f"analysis of {first!r} exists; pass --force to replace it")
        stats = []
        with progress_bar(ctx, "analyzing layers") as update:
            for done, layer in enumerate(chosen, start=1):
                stats.append(layer_stats(store.activations(layer), layer, top_k=top_k))
                update(done, len(chosen))
        names = [r["name"] for r in store.inputs]
        stages = {k: describe_stage(store.layer_group(k).attrs) for k in chosen}
    save_stats(file, stats, force=force)
    _summary(stats, names, stages)
    if any(s.startswith("pre") for s in stages.values()):
        info_line(
            ctx,
            "note: 'pre' rows are raw module outputs; for what the next layer sees "
            "(after BN and activation) capture with --stage post",
        )
    info_line(ctx, f"stored under /analysis/<layer> in {file}")


def _summary(stats: list, names: list[str], stages: dict[str, str]) -> None:
    import numpy as np
    from rich.table import Table

    table = Table(title="layer statistics")
    columns = ("layer", "stage", "C", "sparsity", "dead", "always on", "mean |corr|", "top channel")
    for column in columns:
        table.add_column(column, justify="left" if column in ("layer", "stage") else "right")
    for item in stats:
        c = len(item.mean)
        off = np.abs(item.correlation[~np.eye(c, dtype=bool)]).mean() if c > 1 else 0.0
        best = int(np.argmax(item.top_value[:, 0]))
        top = f"{best} on {names[item.top_image[best, 0]]} ({item.top_value[best, 0]:.3g})"
        table.add_row(
            item.layer,
            stages[item.layer],
            str(c),
            f"{item.sparsity:.1%}",
            str(len(item.dead)),
            str(len(item.always_on)),
            f"{off:.3f}",
            top,
        )
    console().print(table)
