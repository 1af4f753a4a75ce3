"""``volviz attribute``: saliency, Grad-CAM, occlusion and activation maximization.

Arrays go into a store under /attributions/NAME (parameters as attributes), PNG overlays
on the input into --out.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from volviz.cli.errors import api_names
from volviz.cli.options import force_option, info_line, model_options, progress_bar
from volviz.cli.targets import (
    check_outputs,
    command_line,
    load,
    make_target,
    target_options,
)

if TYPE_CHECKING:
    from volviz.capture.methods import AttributionResult, Method
    from volviz.capture.models import LoadedModel
    from volviz.capture.runs import Batch
    from volviz.capture.targets import Target

METHODS = ["saliency", "gradcam", "occlusion", "maximize"]


@api_names(x="inputs")
@click.command()
@click.argument("inputs", nargs=-1)
@click.option("--method", type=click.Choice(METHODS), required=True)
@click.option(
    "-o",
    "--store",
    "out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Store to write (default: INPUT when it is a single store).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for PNG overlays.",
)
@click.option("-m", "--model", default="efficientnet-lite0", show_default=True)
@target_options
@click.option(
    "-l",
    "--layer",
    default=None,
    help="gradcam: conv layer (default: the last conv); maximize: layer of --channel.",
)
@click.option("--channel", type=int, default=None, help="maximize: channel of --layer.")
@click.option(
    "--samples",
    type=int,
    default=0,
    show_default=True,
    help="saliency: SmoothGrad samples (0: vanilla gradient).",
)
@click.option(
    "--noise",
    type=float,
    default=0.15,
    show_default=True,
    help="saliency: SmoothGrad noise std / image value range.",
)
@click.option(
    "--abs/--signed",
    "absolute",
    default=True,
    show_default=True,
    help="saliency: |gradient| before reducing the colour channels.",
)
@click.option(
    "--channels",
    type=click.Choice(["max", "mean"]),
    default="max",
    show_default=True,
    help="saliency: colour-channel reduction.",
)
@click.option("--window", type=int, default=16, show_default=True, help="occlusion: patch size.")
@click.option("--stride", type=int, default=8, show_default=True, help="occlusion: patch step.")
@click.option(
    "--fill",
    type=float,
    default=0.0,
    show_default=True,
    help="occlusion: patch value in preprocessed units (0 = mean colour).",
)
@click.option(
    "--clip",
    type=float,
    default=99.0,
    show_default=True,
    help="occlusion: percentile of the clipped map.",
)
@click.option("--steps", type=int, default=100, show_default=True, help="maximize: iterations.")
@click.option("--step", type=float, default=0.05, show_default=True, help="maximize: step size.")
@click.option("--l2", type=float, default=1e-4, show_default=True, help="maximize: L2 decay.")
@click.option(
    "--tv", type=float, default=0.0, show_default=True, help="maximize: total-variation weight."
)
@click.option("--jitter", type=int, default=0, show_default=True, help="maximize: max shift.")
@click.option(
    "--blur-every",
    type=int,
    default=0,
    show_default=True,
    help="maximize: blur every this many steps (0: never).",
)
@click.option("--blur-sigma", type=float, default=0.5, show_default=True)
@click.option(
    "--start",
    type=click.Choice(["image", "noise"]),
    default=None,
    help="maximize: start from INPUTS (default when given) or from seeded noise.",
)
@click.option(
    "--noise-seed",
    "noise_seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of SmoothGrad noise and of maximize's start and jitter.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--name", default=None, help="Run name under /attributions.")
@click.option("--append", is_flag=True, help="Add to an existing store of these images.")
@model_options
@force_option
@click.pass_context
def attribute(ctx: click.Context, inputs: tuple[str, ...], **kw: Any) -> None:
    """2-D attribution of a target for INPUTS (images, or one store to add to).

    Examples:

        volviz attribute sample:chelsea --method gradcam -o cam.h5 --out cam/

        volviz attribute acts.h5 --method occlusion --window 32 --stride 16 --out occ/

        volviz attribute --method maximize -l _conv_stem --channel 3 -o max.h5 --out max/
    """
    from volviz.capture.methods import attribute as run_method

    specs, kw = _resolve_source(list(inputs), kw)
    if kw["method"] == "occlusion" and kw["score"] is None:
        kw["score"] = "probability"  # occlusion maps are drops of the class probability
    loaded = load(kw["model"], kw["weights"], kw["seed"], kw["device"])
    target = make_target(loaded, kw["target"], kw["score"])
    method = _method(kw, loaded)
    name = kw["name"] or method.name(target)
    batch = _inputs(specs, loaded, kw)
    stems = _png_stems(kw["method"], name, batch)
    _precheck(kw, stems, name)
    with progress_bar(ctx, kw["method"]) as update:
        result = run_method(loaded, batch.x, target, method, progress=update)
    path = _write(loaded, batch, result, target, name, kw)
    info_line(ctx, f"wrote {kw['out']}:{path}")
    if kw["out_dir"]:
        files = _pictures(loaded, batch, result, stems, target, kw)
        info_line(ctx, "wrote " + ", ".join(str(f) for f in files))


def _method(kw: dict[str, Any], loaded: LoadedModel) -> Method:
    """The parameter object of ``--method`` from the options."""
    from volviz.capture import methods
    from volviz.capture.maximize import AscentParams

    pick = lambda *names: {n: kw[n] for n in names}  # noqa: E731
    if kw["method"] == "saliency":
        return methods.Saliency(
            **pick("samples", "noise", "absolute", "channels", "batch_size"),
            seed=kw["noise_seed"],
        )
    if kw["method"] == "gradcam":
        return methods.GradCam(kw["layer"], kw["batch_size"]).resolve(loaded)
    if kw["method"] == "occlusion":
        return methods.Occlusion(**pick("window", "stride", "fill", "batch_size", "clip"))
    ascent = AscentParams(
        **pick("steps", "step", "l2", "tv", "jitter", "blur_every", "blur_sigma"),
        seed=kw["noise_seed"],
    )
    return methods.Maximize(ascent, kw["layer"], kw["channel"], kw["start"])


def _resolve_source(specs: list[str], kw: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """A single store as INPUT: its images, its model, and results added to it."""
    if len(specs) != 1 or not _is_store(specs[0]):
        if kw["out"] is None:
            raise click.UsageError("give -o/--store FILE (or one store as INPUT)")
        return specs, kw
    from volviz.store import Store

    with Store(specs[0]) as store:
        spec = store.model_spec()
        sources = [r["source"] for r in store.inputs]
    kw = {**kw, "model": spec["name"], "weights": kw["weights"] or spec["weights"]}
    kw.update(seed=spec["seed"], append=True, out=kw["out"] or specs[0])
    return sources, kw


def _is_store(spec: str) -> bool:
    path = Path(spec)
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(8) == b"\x89HDF\r\n\x1a\n"


def _inputs(specs: list[str], loaded: LoadedModel, kw: dict[str, Any]) -> Batch:
    import numpy as np
    import torch

    from volviz.capture.runs import Batch, load_batch

    if not specs:  # maximize from noise; methods.attribute refuses it for the others
        return Batch(torch.empty((0, *loaded.input_shape)), [], [np.zeros((0, 0, 3), np.uint8)])
    return load_batch(specs, loaded.preprocess)


def _png_stems(method: str, name: str, batch: Batch) -> list[str]:
    if method == "maximize":
        count = max(1, len(batch.records))
        return [f"{name}_{k}{extra}" for k in range(count) for extra in ("", "_delta")]
    extras = ("", "_clipped") if method == "occlusion" else ("",)
    return [f"{name}_{n}{extra}" for n in batch.names for extra in extras]


def _precheck(kw: dict[str, Any], stems: list[str], name: str) -> None:
    """Refuse before any work: an existing store (or run inside it), existing pictures."""
    from volviz.store.writer import check_target

    if not kw["append"]:
        check_target(Path(kw["out"]), force=kw["force"])
    elif not kw["force"] and Path(kw["out"]).is_file():
        from volviz.store import Store

        with Store(kw["out"]) as store:
            if f"attributions/{name}" in store.file:
                msg = (
                    f"{kw['out']!r} already holds /attributions/{name}; pass --force to replace it"
                )
                raise click.ClickException(msg)
    if kw["out_dir"]:
        folder = Path(kw["out_dir"])
        if folder.exists() and not folder.is_dir():
            raise click.BadParameter(f"{str(folder)!r} is not a folder", param_hint="--out")
        paths = [folder / f"{s}{ext}" for s in stems for ext in (".png", ".npy")]
        check_outputs(paths, force=kw["force"])


def _write(
    loaded: LoadedModel,
    batch: Batch,
    result: AttributionResult,
    target: Target,
    name: str,
    kw: dict[str, Any],
) -> str:
    from volviz.capture.runs import add_group, result_store, run_attrs
    from volviz.store.results import fill_attribution

    with result_store(
        kw["out"],
        loaded,
        batch,
        None,
        append=kw["append"],
        force=kw["force"],
        command=command_line(),
    ) as (handle, rows):
        attrs = run_attrs(
            loaded,
            rows,
            method=result.method,
            params=result.params,
            target=target.as_json(loaded.class_names),
            target_label=target.describe(loaded.class_names),
            score=target.score,
        )
        return add_group(
            handle,
            "attributions",
            name,
            "attribution",
            lambda g: fill_attribution(g, result.arrays, result.class_index, attrs),
            force=kw["force"],
        )


def _pictures(
    loaded: LoadedModel,
    batch: Batch,
    result: AttributionResult,
    stems: list[str],
    target: Target,
    kw: dict[str, Any],
) -> list[Path]:
    import exporters

    folder = Path(kw["out_dir"])
    folder.mkdir(parents=True, exist_ok=True)
    if result.method == "maximize":
        return _maximize_pictures(loaded, result, stems, folder, kw)
    written: list[Path] = []
    keys = ["maps", "clipped"] if result.method == "occlusion" else ["maps"]
    stem_iter = iter(stems)
    for i, image_name in enumerate(batch.names):
        for key in keys:
            written += exporters.heatmap_overlay(
                folder / f"{next(stem_iter)}.png",
                result.arrays[key][0][i],
                batch.rgb[i],
                method=f"{result.method}{' (clipped)' if key == 'clipped' else ''}",
                layer=result.params["layer"] if result.method == "gradcam" else None,
                image_name=image_name,
                target=target.describe(loaded.class_names),
                value_label=result.params.get("value"),
                overwrite=kw["force"],
            )
    return written


def _maximize_pictures(
    loaded: LoadedModel,
    result: AttributionResult,
    stems: list[str],
    folder: Path,
    kw: dict[str, Any],
) -> list[Path]:
    import numpy as np
    from PIL import Image

    import exporters
    from volviz.capture.runs import deprocess

    written: list[Path] = []
    arrays = result.arrays
    images, deltas, starts = arrays["image"][0], arrays["delta"][0], arrays["start"][0]
    for k in range(len(images)):
        picture = deprocess(images[k], loaded.preprocess)
        start = result.params["start"]
        base = deprocess(starts[k], loaded.preprocess) if start == "image" else picture
        path = folder / f"{stems[2 * k]}.png"
        check_outputs([path], force=kw["force"])
        with exporters.atomic_file(path) as tmp:
            Image.fromarray(picture).save(tmp, format="PNG")
        written.append(path)
        written += exporters.heatmap_overlay(
            folder / f"{stems[2 * k + 1]}.png",
            np.abs(deltas[k]).sum(axis=0),
            base,
            method="maximize: |updated - original|",
            value_label="|delta| (sum over RGB)",
            overwrite=kw["force"],
        )
    return written
