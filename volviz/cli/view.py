"""``volviz view``: the interactive window (sliders, slice plane, keys, picking)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import click

from volviz.cli.options import (
    display_scaling_option,
    follow_options,
    parse_size,
    preset_option,
)

NO_DISPLAY = (
    "no display ($DISPLAY is not set): use `volviz render FILE --layer NAME -o view.png` "
    "for a picture or `-o view.html` for an interactive page in a browser"
)


def has_display() -> bool:
    """Whether a window can open: on Linux/BSD that needs an X server ($DISPLAY)."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return bool(os.environ.get("DISPLAY"))
    return True


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--layer", help="Layer to start with (default: the first).")
@click.option("--image", default="0", show_default=True, help="Image index or name to start with.")
@click.option("--ordering", help="Stored ordering to toggle to with 'o' (default: the first).")
@display_scaling_option
@click.option("--cmap", default="inferno", show_default=True)
@preset_option()
@click.option("--size", default="1000x750", show_default=True, help="Window WIDTHxHEIGHT.")
@follow_options
def view(
    file: str,
    layer: str | None,
    image: str,
    ordering: str | None,
    normalize: str,
    cmap: str,
    preset: str,
    size: str,
    follow: bool,
    interval: float,
    wait: float,
) -> None:
    """Open FILE in a window: threshold and opacity sliders, a slice plane, Right/Left for
    the next/previous image, Up/Down for the next/previous layer, o to toggle the stored
    channel ordering, right click to report layer, original channel, row, column and value.

    A training run (volviz.track) adds a step slider and ]/[ for the next/previous record;
    --follow keeps showing the newest record while training writes FILE.
    """
    if not has_display():
        raise click.ClickException(NO_DISPLAY)
    from volviz.render import viewer
    from volviz.render.load import read_ordering
    from volviz.render.volume import Style

    window = parse_size(size)
    with open_store(file, follow=follow, wait=wait) as store:
        layers = store.layers
        start = layers.index(store.layer_group(layer).name.split("/")[-1]) if layer else 0

        def ordering_of(key: str) -> object:
            names = store.orderings(key)
            if ordering and ordering in names:
                return read_ordering(store, key, ordering)
            return read_ordering(store, key, names[0]) if names and not ordering else None

        state = viewer.ViewerState(
            layers=layers,
            image_names=[row["name"] for row in store.inputs],
            load=store.volume,
            ordering_of=ordering_of,  # type: ignore[arg-type]
            layer_index=start,
            image_index=store.image_index(image),
            style=Style(normalization=normalize, cmap=cmap, preset=preset, window_size=window),
            time=time_source(store, follow=follow, wait=wait),
            follow=follow,
        )
        viewer.refresh(state)
        poll_ms = round(interval * 1000) if follow else None
        viewer.build_viewer(state, poll_ms=poll_ms, title=f"volviz view {file}").show()


def open_store(file: str, *, follow: bool, wait: float) -> Any:
    """The store; with ``follow`` opened for SWMR reading, waiting up to ``wait`` seconds
    while the file does not exist yet or its writer has not switched to SWMR."""
    from volviz.errors import StoreError
    from volviz.store import Store

    if not follow:
        return Store(file)
    deadline = time.monotonic() + wait
    while True:
        try:
            return Store(file, swmr=True)
        except StoreError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def time_source(store: Any, *, follow: bool, wait: float = 0.0) -> Any:
    """A ``TimelineSource`` when the store holds a training run (else ``None``); with
    ``follow`` waits up to ``wait`` seconds for the first record."""
    from volviz.render.timeline import TimelineSource
    from volviz.store.timeline import Timeline

    if "timeline" not in store.file:
        if follow:
            msg = f"--follow: {store.path.name} holds no training run (write one with volviz.track)"
            raise click.UsageError(msg)
        return None
    source = TimelineSource(Timeline(store))
    deadline = time.monotonic() + wait
    while source.n_steps == 0:
        if not follow or time.monotonic() >= deadline:
            raise click.ClickException(f"{store.path.name} has no recorded steps yet")
        time.sleep(0.2)
        source.refresh()
    return source
