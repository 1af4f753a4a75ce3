"""Options shared by several commands, and the console they print to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def model_options(fn: F) -> F:
    """``--weights``, ``--seed`` and ``--device``."""
    fn = click.option(
        "--device",
        default="auto",
        show_default=True,
        help="auto (a GPU when present), cpu or cuda.",
    )(fn)
    fn = click.option(
        "--seed", type=int, default=0, show_default=True, help="Seed for random weights."
    )(fn)
    return click.option(
        "--weights",
        default=None,
        help="random, a local state_dict file, or a torchvision weights name "
        "(DEFAULT, IMAGENET1K_V1). Default: embedded ImageNet weights for "
        "efficientnet-lite0, random for torchvision models.",
    )(fn)


def compress_option(fn: F) -> F:
    """``--compress CODEC`` of the activation datasets (checked by the store writer)."""
    return click.option(
        "--compress",
        metavar="CODEC",
        default="none",
        show_default=True,
        help="Compress activations: gzip (any HDF5 reader, slow); blosc-lz4 (fastest: with "
        "--dtype float16 2.2x smaller than float32 at full capture speed), blosc-zstd "
        "(smaller, slower), blosc2-lz4, blosc2-zstd, blosc2-lz4-bitshuffle, "
        "blosc2-zstd-bitshuffle (the blosc codecs need hdf5plugin).",
    )(fn)


def force_option(fn: F) -> F:
    return click.option("--force", is_flag=True, help="Replace existing outputs.")(fn)


def quiet(ctx: click.Context) -> bool:
    return bool((ctx.obj or {}).get("quiet"))


def console() -> Any:
    """A rich console; when piped (not a terminal) it is wide, so tables are not cut."""
    import sys

    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


@contextmanager
def progress_bar(ctx: click.Context, label: str) -> Iterator[Callable[[int, int], None]]:
    """Yield ``update(done, total)`` drawing a rich progress bar (nothing with ``-q``)."""
    if quiet(ctx):
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def info_line(ctx: click.Context, text: str) -> None:
    if not quiet(ctx):
        console().print(text)


def layer_list(text: str) -> list[str]:
    """``--layers`` text ("conv", "a.b,c.*") as a list of names / patterns."""
    return [s.strip() for s in text.split(",") if s.strip()]


DISPLAY_SCALINGS = ["percentile", "minmax", "channel", "symmetric"]


def preset_option(default: str | None = "ramp", note: str = "") -> Callable[[F], F]:
    """``--preset``: the opacity transfer function (``volviz.render.transfer.PRESETS``)."""
    from volviz.render.transfer import PRESET_HELP, PRESETS

    return click.option(
        "--preset",
        type=click.Choice(PRESETS),
        default=default,
        show_default=default is not None,
        help=f"Opacity transfer function: {PRESET_HELP}.{note}",
    )


def display_scaling_option(fn: F) -> F:
    """``--normalize`` of the interactive viewers (window and served page)."""
    return click.option(
        "--normalize",
        type=click.Choice(DISPLAY_SCALINGS),
        default="percentile",
        show_default=True,
        help="Display scaling to start with (the stored data stays raw).",
    )(fn)


def follow_options(fn: F) -> F:
    """``--follow``, ``--interval`` and ``--wait``: watch a run volviz.track is writing."""
    fn = click.option(
        "--wait",
        type=click.FloatRange(min=0),
        default=120.0,
        show_default=True,
        help="Seconds to wait for FILE to become readable (--follow).",
    )(fn)
    fn = click.option(
        "--interval",
        type=click.FloatRange(min=0.05),
        default=1.0,
        show_default=True,
        help="Seconds between checks for new steps (--follow).",
    )(fn)
    return click.option(
        "--follow",
        is_flag=True,
        help="FILE is being written by volviz.track: show the newest step and update as steps "
        "arrive (waits for the file to appear).",
    )(fn)


def parse_size(size: str) -> tuple[int, int]:
    """``--size WIDTHxHEIGHT`` (16..8192 each)."""
    parts = size.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and 16 <= int(p) <= 8192 for p in parts):
        raise click.BadParameter(f"{size!r} is not WIDTHxHEIGHT (16..8192)", param_hint="--size")
    return int(parts[0]), int(parts[1])
