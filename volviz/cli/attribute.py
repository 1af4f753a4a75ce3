"""``volviz attribute``: saliency, Grad-CAM, occlusion and activation maximization.

Arrays go into a store under /attributions/NAME (parameters as attributes), PNG overlays
on the input into --out.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from volviz.cli.options import force_option, info_line, model_options, progress_bar
from volviz.cli.targets import (
    check_outputs,
    command_line,
    load,
    make_target,
    target_options,
)

if TYPE_CHECKING:
    import numpy as np

    from volviz.capture.models import LoadedModel
    from volviz.capture.runs import Batch
    from volviz.capture.targets import Target

METHODS = ["saliency", "gradcam", "occlusion", "maximize"]


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
    specs, kw = _resolve_source(list(inputs), kw)
    loaded = load(kw["model"], kw["weights"], kw["seed"], kw["device"])
    target = make_target(loaded, kw["target"], kw["score"])
    if kw["method"] == "gradcam" and not kw["layer"]:
        kw["layer"] = _last_conv(loaded)
    name = kw["name"] or _default_name(kw, target)
    batch = _inputs(specs, loaded, kw)
    stems = _png_stems(kw["method"], name, batch)
    _precheck(kw, stems)
    with progress_bar(ctx, kw["method"]) as update:
        arrays, classes, params = _compute(loaded, batch, target, kw, update)
    path = _write(loaded, batch, arrays, classes, params, target, name, kw)
    info_line(ctx, f"wrote {kw['out']}:{path}")
    if kw["out_dir"]:
        files = _pictures(loaded, batch, arrays, stems, target, kw)
        info_line(ctx, "wrote " + ", ".join(str(f) for f in files))


def _resolve_source(specs: list[str], kw: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """A single store as INPUT: its images, its model, and results added to it."""
    if len(specs) != 1 or not _is_store(specs[0]):
        if kw["out"] is None:
            raise click.UsageError("give -o/--store FILE (or one store as INPUT)")
        return specs, kw
    from volviz.store import Store

    with Store(specs[0]) as store:
        prov = store.provenance
        sources = [r["source"] for r in store.inputs]
    if "tensor" in sources or prov.get("model") == "imported":
        msg = f"INPUT {specs[0]!r} holds tensors or imported arrays; give the images instead"
        raise click.BadParameter(msg, param_hint="INPUTS")
    weights = str(prov.get("weights", ""))
    if weights.startswith("imagenet (embedded") or not weights:
        weights_opt = None
    else:
        weights_opt = weights.rsplit(".", 1)[-1] if "_Weights." in weights else weights
    seed = int(prov.get("seed", 0))
    kw = {**kw, "model": prov.get("model", kw["model"]), "weights": kw["weights"] or weights_opt}
    kw.update(seed=seed if seed >= 0 else kw["seed"], append=True, out=kw["out"] or specs[0])
    return sources, kw


def _is_store(spec: str) -> bool:
    path = Path(spec)
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(8) == b"\x89HDF\r\n\x1a\n"


def _last_conv(loaded: LoadedModel) -> str:
    from volviz.capture.layers import CONV_TYPES

    names = [n for n, m in loaded.module.named_modules() if isinstance(m, CONV_TYPES)]
    if not names:
        raise click.BadParameter("the model has no conv layer; name one", param_hint="--layer")
    return names[-1]


def _default_name(kw: dict[str, Any], target: Target) -> str:
    method = kw["method"]
    if method == "maximize":
        if kw["layer"]:
            return f"maximize-{kw['layer']}-{kw['channel']}"
        return f"maximize-{target.slug()}"
    if method == "gradcam":
        return f"gradcam-{kw['layer']}-{target.slug()}"
    return f"{method}-{target.slug()}"


def _inputs(specs: list[str], loaded: LoadedModel, kw: dict[str, Any]) -> Batch:
    import numpy as np
    import torch

    from volviz.capture.runs import Batch, load_batch

    if kw["method"] == "maximize":
        kw["start"] = kw["start"] or ("image" if specs else "noise")
        if kw["start"] == "noise" and specs:
            raise click.BadParameter("--start noise takes no INPUTS", param_hint="--start")
    if not specs:
        if kw["method"] != "maximize":
            raise click.UsageError(f"--method {kw['method']} needs INPUTS (images or a store)")
        return Batch(torch.empty((0, *loaded.input_shape)), [], [np.zeros((0, 0, 3), np.uint8)])
    return load_batch(specs, loaded.preprocess)


def _png_stems(method: str, name: str, batch: Batch) -> list[str]:
    if method == "maximize":
        count = max(1, len(batch.records))
        return [f"{name}_{k}{extra}" for k in range(count) for extra in ("", "_delta")]
    extras = ("", "_clipped") if method == "occlusion" else ("",)
    return [f"{name}_{n}{extra}" for n in batch.names for extra in extras]


def _precheck(kw: dict[str, Any], stems: list[str]) -> None:
    from volviz.store.writer import check_target

    if not kw["append"]:
        check_target(Path(kw["out"]), force=kw["force"])
    if kw["out_dir"]:
        folder = Path(kw["out_dir"])
        if folder.exists() and not folder.is_dir():
            raise click.BadParameter(f"{str(folder)!r} is not a folder", param_hint="--out")
        paths = [folder / f"{s}{ext}" for s in stems for ext in (".png", ".npy")]
        check_outputs(paths, force=kw["force"])


Arrays = dict[str, tuple[Any, list[str]]]


def _compute(
    loaded: LoadedModel, batch: Batch, target: Target, kw: dict[str, Any], update: Any
) -> tuple[Arrays, Any, dict[str, Any]]:
    from volviz.capture import attribution as attr

    x = batch.x.to(loaded.device)
    method = kw["method"]
    maps = ["sample", "y", "x"]
    if method == "saliency":
        params = {k: kw[k] for k in ("samples", "noise", "absolute", "channels", "batch_size")}
        r = attr.saliency(loaded.module, x, target, seed=kw["noise_seed"], **params)
        arrays = {"maps": (r["maps"], maps), "gradients": (r["gradients"], _IMG)}
        update(len(x), len(x))
        return arrays, r["class_index"], {**params, "seed": kw["noise_seed"]}
    if method == "gradcam":
        params = {"layer": kw["layer"], "variant": "Grad-CAM, ReLU, bilinear upsampling"}
        r = attr.gradcam(loaded.module, x, kw["layer"], target, batch_size=kw["batch_size"])
        arrays = {"maps": (r["maps"], maps), "layer_maps": (r["layer_maps"], maps)}
        update(len(x), len(x))
        return arrays, r["class_index"], params
    if method == "occlusion":
        params = {k: kw[k] for k in ("window", "stride", "fill", "batch_size", "clip")}
        r = attr.occlusion(loaded.module, x, target, progress=update, **params)
        arrays = {
            "maps": (r["maps"], maps),
            "clipped": (r["clipped"], maps),
            "base_prob": (r["base_prob"], ["sample"]),
        }
        return arrays, r["class_index"], {**params, "value": "probability drop"}
    return _maximize(loaded, x, target, kw, update)


_IMG = ["sample", "channel", "y", "x"]


def _maximize(
    loaded: LoadedModel, x: Any, target: Target, kw: dict[str, Any], update: Any
) -> tuple[Arrays, Any, dict[str, Any]]:
    import numpy as np
    import torch

    from volviz.capture.attribution import fixed_targets
    from volviz.capture.maximize import AscentParams, maximize

    names = ("steps", "step", "l2", "tv", "jitter", "blur_every", "blur_sigma")
    params = AscentParams(**{k: kw[k] for k in names}, seed=kw["noise_seed"])
    params.check()
    starts = list(x) if len(x) else [None]
    classes: list[int | None] = [None] * len(starts)
    if kw["layer"] is None:
        if target.classes is None and not len(x):
            raise click.BadParameter("maximize from noise needs a class", param_hint="--target")
        fixed = fixed_targets(loaded.module, x, target) if len(x) else [target]
        classes = [int(t.classes[0]) for t in fixed]  # type: ignore[index]
    pre = loaded.preprocess
    mean = torch.tensor(pre.mean).view(3, 1, 1)
    std = torch.tensor(pre.std).view(3, 1, 1)
    bounds = ((0 - mean) / std, (1 - mean) / std)
    out: dict[str, list[np.ndarray]] = {"image": [], "delta": [], "start": [], "history": []}
    for start, cls in zip(starts, classes, strict=True):
        r = maximize(
            loaded.module,
            layer=kw["layer"],
            channel=kw["channel"],
            class_index=cls,
            start=start,
            shape=loaded.input_shape,
            bounds=bounds,
            params=params,
            progress=update,
        )
        for key in out:
            out[key].append(r[key])
    arrays = {k: (np.stack(v), _IMG) for k, v in out.items() if k != "history"}
    arrays["history"] = (np.stack(out["history"]), ["sample", "step"])
    record = {**params.__dict__, "layer": kw["layer"] or "", "channel": kw["channel"]}
    record.update(
        start=kw["start"], objective="mean channel activation" if kw["layer"] else "logit"
    )
    return arrays, np.array([-1 if c is None else c for c in classes]), record


def _write(
    loaded: LoadedModel,
    batch: Batch,
    arrays: Arrays,
    classes: Any,
    params: dict[str, Any],
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
            method=kw["method"],
            params=params,
            target=target.as_json(loaded.class_names),
            target_label=target.describe(loaded.class_names),
            score=target.score,
        )
        return add_group(
            handle,
            "attributions",
            name,
            "attribution",
            lambda g: fill_attribution(g, arrays, classes, attrs),
            force=kw["force"],
        )


def _pictures(
    loaded: LoadedModel,
    batch: Batch,
    arrays: Arrays,
    stems: list[str],
    target: Target,
    kw: dict[str, Any],
) -> list[Path]:
    import exporters

    folder = Path(kw["out_dir"])
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if kw["method"] == "maximize":
            return _maximize_pictures(loaded, arrays, stems, folder, kw)
        written: list[Path] = []
        keys = ["maps", "clipped"] if kw["method"] == "occlusion" else ["maps"]
        stem_iter = iter(stems)
        for i, image_name in enumerate(batch.names):
            for key in keys:
                written += exporters.heatmap_overlay(
                    folder / f"{next(stem_iter)}.png",
                    arrays[key][0][i],
                    batch.rgb[i],
                    method=f"{kw['method']}{' (clipped)' if key == 'clipped' else ''}",
                    layer=kw["layer"] if kw["method"] == "gradcam" else None,
                    image_name=image_name,
                    target=target.describe(loaded.class_names),
                    value_label="probability drop" if kw["method"] == "occlusion" else None,
                    overwrite=kw["force"],
                )
        return written
    except exporters.ExportError as exc:
        raise click.ClickException(str(exc)) from None


def _maximize_pictures(
    loaded: LoadedModel, arrays: Arrays, stems: list[str], folder: Path, kw: dict[str, Any]
) -> list[Path]:
    import numpy as np

    import exporters
    from volviz.capture.runs import deprocess

    written: list[Path] = []
    images, deltas, starts = arrays["image"][0], arrays["delta"][0], arrays["start"][0]
    for k in range(len(images)):
        result = deprocess(images[k], loaded.preprocess)
        base = deprocess(starts[k], loaded.preprocess) if kw["start"] == "image" else result
        written.append(_save_rgb(folder / f"{stems[2 * k]}.png", result, force=kw["force"]))
        written += exporters.heatmap_overlay(
            folder / f"{stems[2 * k + 1]}.png",
            np.abs(deltas[k]).sum(axis=0),
            base,
            method="maximize: |updated - original|",
            value_label="|delta| (sum over RGB)",
            overwrite=kw["force"],
        )
    return written


def _save_rgb(path: Path, rgb: np.ndarray, *, force: bool) -> Path:
    """Write an (H, W, 3) uint8 image as PNG under a temporary name, then rename it."""
    import os

    from PIL import Image

    check_outputs([path], force=force)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        Image.fromarray(rgb).save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
