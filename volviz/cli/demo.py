"""``volviz demo``: the main job on the embedded default, with no arguments."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from volviz.cli.options import console, force_option, info_line, progress_bar, quiet

if TYPE_CHECKING:
    from concurrent.futures import Future

    import numpy as np

    from volviz.report.pool import WorkPool

DEMO_INPUTS = ("sample:chelsea", "sample:coffee", "sample:rocket")
DEMO_LAYER = "_conv_stem"
# What each conv hands on (after BN + ReLU6), plus the stem's raw output: +6% bytes over one
# stage (both stages for every conv would double the store).
DEMO_STAGE = f"post,{DEMO_LAYER}=both"
DEMO_KEY = f"{DEMO_LAYER}+post"


@click.command()
@click.option(
    "-o",
    "--out",
    default="volviz-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Output folder.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@force_option
@click.pass_context
def demo(ctx: click.Context, out: str, device: str, force: bool) -> None:
    """EfficientNet-Lite0 (embedded ImageNet weights) on bundled photos, end to end.

    Prints top-5 predictions, writes what every conv layer hands on (its post-activation,
    after BN and ReLU6: key NAME+post) and the stem conv's raw output to OUT/demo.h5,
    validates it, renders the stem's post-activation volume of each photo to OUT/*.png,
    adds Grad-CAM maps and the stem conv's weight gradients of each photo's predicted class,
    and writes an HTML report to OUT/report/index.html.
    """
    from volviz.capture.extract import capture
    from volviz.capture.models import load_model
    from volviz.cli.info import print_predictions
    from volviz.errors import StoreError
    from volviz.store import Store, validate
    from volviz.store.writer import check_target

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    store_path = folder / "demo.h5"
    check_target(store_path, force=force)
    loaded = load_model(device=device)
    info_line(ctx, f"{loaded.name}: weights {loaded.weights}, device {loaded.device}")
    with progress_bar(ctx, "capturing conv activations") as update:
        capture(
            loaded, list(DEMO_INPUTS), store_path, force=force, progress=update, stage=DEMO_STAGE
        )
    problems = validate(store_path)
    if problems:
        raise StoreError(f"{store_path} failed validation: {problems[0]}")
    with Store(store_path) as store:
        if not quiet(ctx):
            print_predictions(store)
        n_post = sum(k.endswith("+post") for k in store.layers)
        info_line(ctx, f"wrote {store_path} ({n_post} conv layers, post-activation), valid")
        volumes = [(r["name"], store.volume(DEMO_KEY, i)) for i, r in enumerate(store.inputs)]
    from volviz.report.html import ReportBuild
    from volviz.report.pool import WorkPool, outcome

    # The stills and the report's layers go to worker processes while this process runs the
    # torch steps; the report's workers get their arrays now, as the research writes the store.
    with WorkPool(inline=False) as pool:
        stills = _queue_stills(pool, folder, volumes, force=force)
        with ReportBuild(store_path, folder / "report", pool, force=force, read_all=True) as report:
            _research(ctx, store_path, threads=1)
            with progress_bar(ctx, "writing the report") as update:
                page = report.finish(update)
        pngs = [outcome(future) for future in stills]
    if quiet(ctx):
        return
    for png in pngs:
        console().print(f"wrote {png}")
    console().print(f"wrote {page}  (open it in a browser)")
    info_line(ctx, f"next: volviz info {store_path}")


def _research(ctx: click.Context, store_path: Path, *, threads: int | None) -> None:
    """Grad-CAM maps, stem-conv weight gradients and the stem's pruning check for each
    photo's predicted class, into the store; torch on ``threads`` threads (the workers have
    the other cores: torch's spinning threads slow down many times when oversubscribed)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        _research_steps(ctx, store_path)
    finally:
        torch.set_num_threads(before)


def _research_steps(ctx: click.Context, store_path: Path) -> None:
    from volviz.cli.attribute import attribute
    from volviz.cli.gradients import gradients
    from volviz.cli.importance import importance

    ctx.invoke(attribute, inputs=(str(store_path),), method="gradcam", force=True)
    ctx.invoke(
        gradients,
        inputs=DEMO_INPUTS,
        out=str(store_path),
        append=True,
        layers=DEMO_LAYER,
        force=True,
    )
    ctx.invoke(
        importance,
        inputs=DEMO_INPUTS,
        layer=DEMO_LAYER,
        top_k="1,3",
        store=str(store_path),
        force=True,
    )


def _queue_stills(
    pool: WorkPool, folder: Path, volumes: list[tuple[str, np.ndarray]], *, force: bool
) -> list[Future[Path]]:
    """Queue the stem's volume still of each photo (OUT/NAME_conv_stem.png)."""
    from volviz.report.layers import still

    targets = [folder / f"{name}_{DEMO_LAYER.strip('_')}.png" for name, _ in volumes]
    for target in targets:
        if target.exists() and not force:
            raise click.ClickException(f"output {str(target)!r} exists; pass --force")
    futures = []
    for target, (name, volume) in zip(targets, volumes, strict=True):
        shape = "x".join(str(s) for s in volume.shape)
        title = f"{DEMO_KEY} (after BN, ReLU6)  {name}  {shape}"
        futures.append(pool.submit(still, volume, target, title))
    return futures
