"""``volviz importance``: filters ranked by gradient norm, checked by pruning."""

from __future__ import annotations

from typing import Any

import click

from volviz.cli.options import (
    console,
    force_option,
    info_line,
    model_options,
    quiet,
)
from volviz.cli.targets import (
    default_layer,
    load,
    make_target,
    target_options,
)


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-m", "--model", default="efficientnet-lite0", show_default=True)
@click.option("-l", "--layer", default=None, help="Conv layer (default: the first conv).")
@target_options
@click.option(
    "-k",
    "--top-k",
    default="1",
    show_default=True,
    help="Comma-separated numbers of filters to zero, from the top and from the bottom.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option(
    "--store",
    "store",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also record the ranking and the pruning check in this store (/importance/NAME), "
    "where `volviz report` shows them.",
)
@click.option("--name", default=None, help="Name under /importance (default: LAYER-TARGET).")
@model_options
@force_option
@click.pass_context
def importance(ctx: click.Context, inputs: tuple[str, ...], **kw: Any) -> None:
    """Rank a conv layer's filters by gradient norm for a target, then check by pruning.

    Importance of filter o: mean over INPUTS of ||d score / d W[o]||. The check zeroes the
    k most and the k least important filters (weights restored afterwards) and reports the
    change in the mean target score and in top-1 accuracy over INPUTS.
    """
    import json

    from volviz.capture.importance import importance_report
    from volviz.capture.runs import load_batch

    loaded = load(kw["model"], kw["weights"], kw["seed"], kw["device"])
    (layer,) = default_layer(loaded, kw["layer"])[:1]
    target = make_target(loaded, kw["target"], kw["score"])
    ks = _parse_ks(kw["top_k"])
    out_channels = getattr(dict(loaded.module.named_modules())[layer], "out_channels", max(ks))
    if max(ks) > out_channels:
        msg = f"{max(ks)} is more than the {out_channels} filters of {layer}"
        raise click.BadParameter(msg, param_hint="--top-k")
    batch = load_batch(list(inputs), loaded.preprocess)
    x = batch.x.to(loaded.device)
    report = importance_report(loaded.module, x, layer, target, ks=ks)
    report["target"] = target.describe(loaded.class_names)
    report["image_names"] = batch.names
    if kw["store"]:
        from volviz.store.results import save_importance

        name = kw["name"] or f"{layer}-{kw['target']}"
        save_importance(kw["store"], name, report, force=kw["force"])
        info_line(ctx, f"wrote {kw['store']}:/importance/{name}")
        if quiet(ctx):  # recorded in the store; -q asks for no tables
            return
    if kw["as_json"]:
        click.echo(json.dumps(report))
        return
    _print_importance(report)


def _parse_ks(text: str) -> list[int]:
    try:
        ks = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        ks = []
    if not ks or min(ks) < 1:
        raise click.BadParameter(
            f"{text!r} is not a list of positive integers", param_hint="--top-k"
        )
    return ks


def _print_importance(report: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    rank, imp = report["ranking"], report["importance"]
    shown = ", ".join(f"{f} ({v:.3g})" for f, v in zip(rank[:5], imp[:5], strict=True))
    last = ", ".join(f"{f} ({v:.3g})" for f, v in zip(rank[-5:], imp[-5:], strict=True))
    out.print(f"{report['layer']}, {report['target']}, {report['images']} images")
    out.print(f"  most important filters: {shown}")
    out.print(f"  least important filters: {last}")
    table = Table(title="pruning check (filters zeroed, then restored)")
    for column in ("removed", "filters", "mean score", "change", "top-1", "change"):
        table.add_column(column)
    for row in report["pruning"]:
        table.add_row(
            row["removed"],
            ",".join(map(str, row["filters"][:8])),
            f"{row['score']:.4f}",
            f"{row.get('score_change', 0.0):+.4f}",
            f"{row['top1']:.3f}",
            f"{row.get('top1_change', 0.0):+.3f}",
        )
    out.print(table)
