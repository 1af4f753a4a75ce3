"""``volviz compare``: CNN-VIS's reference / similar / dissimilar class comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from volviz.cli.options import (
    console,
    force_option,
    info_line,
    model_options,
    progress_bar,
)
from volviz.cli.targets import (
    command_line,
    default_layer,
    export_gradient,
    export_options,
    load,
    make_target,
    precheck,
)


@click.command()
@click.option("--reference", multiple=True, required=True, help="Images of the reference class.")
@click.option("--similar", multiple=True, required=True, help="Images of a similar class.")
@click.option("--dissimilar", multiple=True, required=True, help="Images of a dissimilar class.")
@click.option("-o", "--store", "out", required=True, type=click.Path(dir_okay=False))
@click.option("-m", "--model", default="efficientnet-lite0", show_default=True)
@click.option("-l", "--layers", default=None, help="Conv layers (default: the first conv).")
@click.option(
    "-t",
    "--target",
    default=None,
    help="Class whose score is differentiated for all three sets (default: the class most "
    "reference images are predicted as). Same forms as `volviz gradients --target`.",
)
@click.option(
    "--score", type=click.Choice(["log_softmax", "logit"]), default="log_softmax", show_default=True
)
@click.option(
    "--strategy",
    type=click.Choice(["auto", "loop", "batched", "vmap"]),
    default="auto",
    show_default=True,
)
@click.option("--name", default="compare", show_default=True, help="Name of the comparison.")
@export_options
@model_options
@force_option
@click.pass_context
def compare(ctx: click.Context, **kw: Any) -> None:
    """Compare weight gradients of a reference, a similar and a dissimilar class (CNN-VIS).

    Each option takes images (repeat it, or use folders and globs). The gradient of ONE
    class score (--target) is taken for every image; the store gets a run per set under
    /gradients/NAME-ROLE, and /comparisons/NAME holds the differences of the mean gradients.
    Prints cosine similarities and norm ratios. Example:

        volviz compare --reference tests/data/cnn-vis/images/pembroke.jpg
        --similar tests/data/cnn-vis/images/chihuahua.jpg
        --dissimilar tests/data/cnn-vis/images/Persian_1.jpg -o cmp.h5 --out cmp/
    """
    from volviz.capture.compare import PAIRS, ROLES, compare_classes, majority_target
    from volviz.capture.compare import write_comparison as write
    from volviz.capture.runs import load_batch

    loaded = load(kw["model"], kw["weights"], kw["seed"], kw["device"])
    layers = default_layer(loaded, kw["layers"])
    kw["append"] = False
    batches = {role: load_batch(list(kw[role]), loaded.preprocess) for role in ROLES}
    target = (
        make_target(loaded, kw["target"], kw["score"])
        if kw["target"]
        else majority_target(loaded, batches["reference"].x, kw["score"] or "log_softmax")
    )
    whats = [*ROLES, *(f"{a}-minus-{b}" for a, b in PAIRS)]
    precheck(kw, [f"{kw['name']}_{w}_{layer}" for w in whats for layer in layers])
    with progress_bar(ctx, "gradients") as update:
        images = {role: batches[role].x for role in ROLES}
        result = compare_classes(
            loaded, images, layers, target, strategy=kw["strategy"], progress=update
        )
    write(
        kw["out"],
        loaded,
        batches,
        result,
        name=kw["name"],
        force=kw["force"],
        command=command_line(),
    )
    info_line(ctx, f"wrote {kw['out']}: /gradients/{kw['name']}-ROLE, /comparisons/{kw['name']}")
    label = target.describe(loaded.class_names)
    for layer in layers:
        _print_table(layer, label, result.tables[layer])
    if kw["out_dir"]:
        _export_comparison(ctx, result, layers, label, kw)


def _print_table(layer: str, target: str, table: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    t1 = Table(title=f"{layer}: gradient of {target}")
    for column in ("set", "images", "mean per-image norm", "norm of mean"):
        t1.add_column(column)
    for row in table["roles"]:
        t1.add_row(
            row["role"],
            str(row["images"]),
            f"{row['mean_image_norm']:.4g}",
            f"{row['mean_norm']:.4g}",
        )
    out.print(t1)
    t2 = Table(title=f"{layer}: pairs (mean gradients)")
    for column in ("a", "b", "cosine", "per-image norm a/b", "mean norm a/b", "|a - b|"):
        t2.add_column(column)
    for row in table["pairs"]:
        t2.add_row(
            row["a"],
            row["b"],
            f"{row['cosine']:.3f}",
            f"{row['image_norm_ratio']:.3f}",
            f"{row['mean_norm_ratio']:.3f}",
            f"{row['difference_norm']:.4g}",
        )
    out.print(t2)


def _export_comparison(
    ctx: click.Context, result: Any, layers: list[str], target: str, kw: dict[str, Any]
) -> None:
    folder = Path(kw["out_dir"])
    for layer in layers:
        arrays = {r: res.mean[layer] for r, res in result.results.items()}
        arrays.update(result.differences[layer])
        for what, grad in arrays.items():
            files = export_gradient(
                folder,
                f"{kw['name']}_{what}_{layer}",
                grad,
                reduce=kw["reduce"],
                fmt=kw["fmt"],
                title=f"{layer} | {target} | {what} (mean)",
                force=kw["force"],
            )
            info_line(ctx, "wrote " + ", ".join(str(f) for f in files))
