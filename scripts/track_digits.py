"""Train a small CNN on scikit-learn's bundled digits and watch its first conv layer learn.

    python scripts/track_digits.py [--out DIR] [--epochs 8] [--readme]

Offline and a few seconds on a CPU. The 8x8 digits are upsampled to 16x16 so the feature
maps have room to show strokes. ``volviz.track`` records the probe activations, weights and
weight gradients of both conv layers before training (step 0) and at the end of every epoch
into DIR/digits_run.h5; then the script renders the first conv layer's activation volume for
one probe digit over the epochs (DIR/digits_conv1.gif, one channel order and one display
range for all frames) and writes the report (DIR/report/index.html) with loss, weight drift
and activation change over time. ``--readme`` also writes docs/images/digits_training.gif.
The same animation from the command line::

    volviz render DIR/digits_run.h5 --time --layer 0 --image 3 --fps 2 --size 640x480 -o conv1.gif
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import torch  # before any VTK render (DESIGN.md: triton after llvmpipe crashes)
from torch.nn import functional as F

from volviz.capture.digits import digits_cnn, digits_data, probe_set

ROOT = Path(__file__).resolve().parents[1]
LAYER, IMAGE = "0", 3  # first conv; probe image 3 is a "3"


def train(out: Path, epochs: int) -> tuple[Path, float]:
    """Train with ``volviz.track``; return the store and the test accuracy."""
    import volviz

    x, y, xt, yt = digits_data(size=16)
    model = digits_cnn(size=16)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    path = out / "digits_run.h5"
    torch.manual_seed(1)
    with volviz.track(model, path, probe=probe_set(xt, yt), every=1, force=True) as tracker:
        with torch.no_grad():
            start_loss = F.cross_entropy(model(x), y).item()
        tracker.record(0, epoch=0, loss=start_loss)
        step = 0
        for epoch in range(1, epochs + 1):
            model.train()
            total = 0.0
            for idx in torch.randperm(len(x)).split(32):
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
                step += 1
            # .grad still holds the epoch's last batch: recorded as weight_grad
            tracker.record(step, epoch=epoch, loss=total / len(x))
    model.eval()
    with torch.no_grad():
        accuracy = (model(xt).argmax(1) == yt).float().mean().item()
    return path, accuracy


def render(path: Path, gif: Path, *, size: tuple[int, int], fps: int) -> None:
    """The first conv layer's activations of probe digit ``IMAGE``, one frame per record."""
    from volviz.render.animate import write_time_animation
    from volviz.render.timeline import TimeScene, load_series, stable_order
    from volviz.render.volume import Style
    from volviz.store import Store
    from volviz.store.timeline import Timeline

    with Store(path) as store:
        series = load_series(Timeline(store), LAYER, image=IMAGE)
    order = stable_order(series.volumes, "final")
    scene = TimeScene(series, style=Style(window_size=size), order=order)
    write_time_animation(scene, gif, fps=fps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("volviz-digits"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--readme", action="store_true", help="write docs/images too")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # faster here than 2 contending threads (small convs)
    start = time.perf_counter()
    path, accuracy = train(args.out, args.epochs)
    seconds = time.perf_counter() - start
    print(f"trained {args.epochs} epochs in {seconds:.1f} s: test accuracy {accuracy:.1%}")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    gif = args.out / "digits_conv1.gif"
    render(path, gif, size=(640, 480), fps=2)
    print(f"wrote {gif} ({gif.stat().st_size / 1e6:.2f} MB)")
    from volviz.report.html import build_report

    page = build_report(path, args.out / "report", force=True)
    print(f"wrote {page}")
    if args.readme:
        target = ROOT / "docs" / "images" / "digits_training.gif"
        shutil.copyfile(gif, target)
        print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
