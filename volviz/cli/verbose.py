"""``-v``: what a command did in detail (stages with their time, files with their sizes).

Detail lines go to stderr, so ``--json`` output and pipes stay clean; ``-q`` silences them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click


def verbosity(ctx: click.Context) -> int:
    """How many ``-v`` were given (0 with ``-q``)."""
    obj = ctx.find_root().obj or {}
    return 0 if obj.get("quiet") else int(obj.get("verbose", 0))


def detail(ctx: click.Context, text: str, level: int = 1) -> None:
    """Print ``text`` to stderr when at least ``level`` ``-v`` were given."""
    if verbosity(ctx) >= level:
        click.echo(text, err=True)


@contextmanager
def stage(ctx: click.Context, name: str) -> Iterator[None]:
    """Time the block; with ``-v`` print ``name: 0.42 s`` when it ends."""
    start = time.perf_counter()
    yield
    detail(ctx, f"  {name}: {time.perf_counter() - start:.2f} s")


def file_detail(ctx: click.Context, path: str | Path) -> None:
    """With ``-v``: the absolute path of a written file and its size."""
    p = Path(path).absolute()
    if p.is_file():
        detail(ctx, f"  wrote {p} ({p.stat().st_size:,} bytes)")
