"""``volviz gradients``, ``compare``, ``importance`` and ``import``: weight-gradient volumes.

Gradients of a class score w.r.t. conv weights (O, I, kh, kw), per image and summed, into
a store; CNN-VIS's class comparison; filter importance with a pruning check; and import of
external .npy volumes and gradients.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from volviz.cli.options import (
    console,
    force_option,
    info_line,
    model_options,
    progress_bar,
    quiet,
)

if TYPE_CHECKING:
    import numpy as np

    from volviz.capture.models import LoadedModel
    from volviz.capture.targets import Target

F = TypeVar("F", bound=Callable[..., Any])
REDUCE = ["sum", "abs_sum", "l2", "keep"]


def target_options(fn: F) -> F:
    """``--target`` and ``--score``."""
    fn = click.option(
        "--score",
        type=click.Choice(["log_softmax", "logit"]),
        default="log_softmax",
        show_default=True,
        help="log_softmax: log-probability, comparable across classes; logit: raw output.",
    )(fn)
    return click.option(
        "-t",
        "--target",
        default="pred",
        show_default=True,
        help="pred (each image's predicted class), a class index (263), a class name "
        "(Pembroke), or a comma-separated set (281,282,285).",
    )(fn)


def export_options(fn: F) -> F:
    """``--out``, ``--reduce`` and ``--format`` for gradient PNG grids and voxel files."""
    fn = click.option(
        "--format",
        "fmt",
        default="vti",
        show_default=True,
        help="Voxel format of exported volumes (vti, nrrd, nifti, mhd, npy).",
    )(fn)
    fn = click.option(
        "--reduce",
        type=click.Choice(REDUCE),
        default="sum",
        show_default=True,
        help="Input-channel reduction when making volumes (keep: every kernel on depth).",
    )(fn)
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Folder for PNG grids and voxel files of the mean gradients.",
    )(fn)


def command_line() -> str:
    return shlex.join(["volviz", *sys.argv[1:]])


def load(model: str, weights: str | None, seed: int, device: str) -> LoadedModel:
    from volviz.capture.models import load_model

    return load_model(model, weights=weights, seed=seed, device=device)


def default_layer(loaded: LoadedModel, layers: str | None) -> list[str]:
    """``--layers`` as a list; default: the model's first convolution (CNN-VIS's conv1)."""
    from volviz.capture.layers import CONV_TYPES, resolve_layers

    if layers:
        return resolve_layers(loaded.module, [s.strip() for s in layers.split(",") if s.strip()])
    names = [n for n, m in loaded.module.named_modules() if isinstance(m, CONV_TYPES)]
    if not names:
        raise click.BadParameter("the model has no conv layer; name one", param_hint="--layers")
    return names[:1]


def make_target(loaded: LoadedModel, spec: str, score: str) -> Target:
    from volviz.capture.targets import parse_target

    return parse_target(spec, loaded.class_names, score=score)


def check_outputs(paths: Sequence[Path], *, force: bool) -> None:
    """Fail before any work when an output file exists and ``--force`` is off."""
    for path in paths:
        if path.exists() and not force:
            raise click.ClickException(f"output {str(path)!r} exists; pass --force to replace it")


def export_gradient(
    out_dir: Path, stem: str, grad: np.ndarray, *, reduce: Any, fmt: Any, title: str, force: bool
) -> list[Path]:
    """PNG grid and voxel file of one (O, I, kh, kw) gradient."""
    import exporters
    from volviz.store.results import gradient_volume

    volume = gradient_volume(grad, reduce)
    suffix = exporters.FORMATS[fmt][0] if fmt in exporters.FORMATS else f".{fmt}"
    meta = {"reduction": reduce, "what": title}
    try:
        grid = (
            exporters.gradient_grid(
                out_dir / f"{stem}.png", volume, title=title, overwrite=force, metadata=meta
            )
            if reduce == "keep"
            else exporters.gradient_grid(
                out_dir / f"{stem}.png", grad, reduction=reduce, title=title, overwrite=force
            )
        )
        if fmt == "npy":  # the grid's .npy already holds this volume
            return grid
        vol = exporters.write_volume(
            out_dir / f"{stem}{suffix}", volume, fmt=fmt, overwrite=force, metadata=meta
        )
    except exporters.ExportError as exc:
        raise click.ClickException(str(exc)) from None
    return [*grid, *vol]


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--store", "out", required=True, type=click.Path(dir_okay=False))
@click.option("-m", "--model", default="efficientnet-lite0", show_default=True)
@click.option("-l", "--layers", default=None, help="Conv layers (default: the first conv).")
@target_options
@click.option(
    "--strategy",
    type=click.Choice(["auto", "loop", "batched", "vmap"]),
    default="auto",
    show_default=True,
)
@click.option("--per-image/--no-per-image", default=True, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--name", default=None, help="Run name under /gradients (default: the target).")
@click.option("--append", is_flag=True, help="Add the run to an existing store of these images.")
@export_options
@model_options
@force_option
@click.pass_context
def gradients(ctx: click.Context, inputs: tuple[str, ...], **kw: Any) -> None:
    """Gradients of a class score w.r.t. conv weights for INPUTS, into a store.

    Stored per image (N, O, I, kh, kw) and summed / averaged over the images (O, I, kh, kw)
    under /gradients/NAME/LAYER. Example:

        volviz gradients tests/data/cnn-vis/images/pembroke*.jpg -o grads.h5 -t Pembroke
    """
    from volviz.capture.gradients import weight_gradients
    from volviz.capture.runs import load_batch

    loaded = load(kw["model"], kw["weights"], kw["seed"], kw["device"])
    layers = default_layer(loaded, kw["layers"])
    target = make_target(loaded, kw["target"], kw["score"])
    name = kw["name"] or target.slug()
    _precheck(kw, [f"{name}_{layer}" for layer in layers])
    batch = load_batch(list(inputs), loaded.preprocess)
    with progress_bar(ctx, f"gradients ({kw['strategy']})") as update:
        result = weight_gradients(
            loaded.module,
            batch.x.to(loaded.device),
            layers,
            target,
            per_image=kw["per_image"],
            strategy=kw["strategy"],
            batch_size=kw["batch_size"],
            progress=update,
        )
    path = _write_run(loaded, batch, result, target, name, kw)
    info_line(ctx, f"wrote {kw['out']}:{path} ({result.strategy}, {result.seconds:.2f} s)")
    for layer in result.layers:
        mean = result.mean[layer]
        info_line(ctx, f"  {layer}: {tuple(mean.shape)}, |mean gradient| = {_norm(mean):.4g}")
        if kw["out_dir"]:
            title = f"{layer} | {target.describe(loaded.class_names)} | mean of {len(batch.x)}"
            files = export_gradient(
                Path(kw["out_dir"]),
                f"{name}_{layer}",
                mean,
                reduce=kw["reduce"],
                fmt=kw["fmt"],
                title=title,
                force=kw["force"],
            )
            info_line(ctx, "  wrote " + ", ".join(str(f) for f in files))


def _precheck(kw: dict[str, Any], stems: Sequence[str]) -> None:
    from volviz.store.writer import check_target

    if not kw["append"]:
        check_target(Path(kw["out"]), force=kw["force"])
    if kw["out_dir"]:
        import exporters

        if kw["fmt"] not in exporters.FORMATS or kw["fmt"] in ("legacy-vox", "magicavoxel"):
            raise click.BadParameter(f"{kw['fmt']!r} is not a voxel format", param_hint="--format")
        folder = Path(kw["out_dir"])
        folder.mkdir(parents=True, exist_ok=True)
        suffix = exporters.FORMATS[kw["fmt"]][0]
        paths = [folder / f"{s}{ext}" for s in stems for ext in (".png", ".npy", suffix)]
        check_outputs(paths, force=kw["force"])


def _norm(a: np.ndarray) -> float:
    import numpy as np

    return float(np.linalg.norm(a.astype(np.float64)))


def _write_run(
    loaded: LoadedModel, batch: Any, result: Any, target: Target, name: str, kw: dict[str, Any]
) -> str:
    from volviz.capture.runs import add_group, gradient_filler, result_store, run_attrs

    with result_store(
        kw["out"],
        loaded,
        batch,
        result.logits,
        append=kw["append"],
        force=kw["force"],
        command=command_line(),
    ) as (handle, rows):
        attrs = run_attrs(
            loaded,
            rows,
            target=target.as_json(loaded.class_names),
            target_label=target.describe(loaded.class_names),
            score=target.score,
            strategy=result.strategy,
        )

        fill = gradient_filler(loaded, result, rows, attrs)
        return add_group(handle, "gradients", name, "gradient-run", fill, force=kw["force"])


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
        else majority_target(loaded, batches["reference"].x, kw["score"])
    )
    whats = [*ROLES, *(f"{a}-minus-{b}" for a, b in PAIRS)]
    _precheck(kw, [f"{kw['name']}_{w}_{layer}" for w in whats for layer in layers])
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


@click.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--store", "out", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--kind",
    type=click.Choice(["auto", "activations", "gradients"]),
    default="auto",
    show_default=True,
    help="auto: (C, H, W) arrays are activation volumes, (O, I, kh, kw) weight gradients.",
)
@click.option("--layer", default=None, help="Layer key (default: file name before '_').")
@click.option("--name", default="imported", show_default=True, help="Gradient run name.")
@click.option("--target", default="", help="What the gradients are of (recorded as text).")
@force_option
@click.pass_context
def import_(ctx: click.Context, files: tuple[str, ...], **kw: Any) -> None:
    """Put external .npy arrays (one image each) into a new store.

    Activation volumes become a layer (one image per file); weight gradients become a run
    under /gradients (one image per file, plus sum and mean). Example:

        volviz import tests/data/cnn-vis/gradients/conv1_pembroke.npy -o legacy.h5
    """
    from volviz.store.results import import_npy

    summary = import_npy(
        list(files),
        kw["out"],
        kind=kw["kind"],
        layer=kw["layer"],
        name=kw["name"],
        target=kw["target"],
        force=kw["force"],
        attrs={"command": command_line()},
    )
    info_line(ctx, f"wrote {kw['out']}:{summary['path']} {summary['kind']} {summary['shape']}")
