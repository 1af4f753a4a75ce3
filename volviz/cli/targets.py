"""Options and helpers shared by the commands that explain a target: ``gradients``,
``compare``, ``importance`` and ``attribute``.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from volviz.cli.options import layer_list

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
        type=click.Choice(["log_softmax", "logit", "probability"]),
        default=None,
        help="log_softmax: log-probability, comparable across classes (the default); logit: "
        "raw output; probability: softmax (the default of occlusion, whose maps are drops).",
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
        return resolve_layers(loaded.module, layer_list(layers))
    names = [n for n, m in loaded.module.named_modules() if isinstance(m, CONV_TYPES)]
    if not names:
        raise click.BadParameter("the model has no conv layer; name one", param_hint="--layers")
    return names[:1]


def make_target(loaded: LoadedModel, spec: str, score: str | None) -> Target:
    from volviz.capture.targets import DEFAULT_SCORE, parse_target

    return parse_target(spec, loaded.class_names, score=score or DEFAULT_SCORE)


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


def precheck(kw: dict[str, Any], stems: Sequence[str]) -> None:
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
