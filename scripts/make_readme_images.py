"""Make the README's rendering pictures in docs/images/ (run from anywhere, ~30 s, offline).

Data: CNN-VIS's conv1 activations of a cat (96 x 55 x 55) and its conv1 weight gradients for
a Pembroke corgi, a chihuahua and a Persian cat (tests/data/cnn-vis), and EfficientNet-Lite0's
conv layers for scikit-image's ``chelsea`` (captured here with the embedded weights).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# torch (and triton) before the first VTK frame: see DESIGN.md's machine facts.
import numpy as np  # noqa: E402
import torch  # noqa: E402, F401

import volviz.render  # noqa: E402, F401

OUT = ROOT / "docs" / "images"
DATA = ROOT / "tests" / "data" / "cnn-vis"


def main() -> None:
    import ordering
    from volviz.render.compare import compare_plotter
    from volviz.render.ordered import ChannelOrder
    from volviz.render.scenes import threshold_plotter
    from volviz.render.volume import Style, save_screenshot, volume_plotter
    from volviz.render.weights import reduce_input_channels

    OUT.mkdir(parents=True, exist_ok=True)
    cat = np.load(DATA / "activations" / "conv1_cat.npy")
    style = Style(window_size=(720, 540))
    title = "CNN-VIS conv1, cat photo  96x55x55"
    save_screenshot(
        volume_plotter(cat, title=title, style=style, preset="sparse", opacity_scale=0.6),
        OUT / "render_volume_conv1_cat.png",
    )
    save_screenshot(
        threshold_plotter(cat, percentile=97, title=title + "  (binary voxels)", style=style),
        OUT / "render_threshold_conv1_cat.png",
    )
    kmeans = ordering.RowKMeans(n_clusters=6).fit(cat)
    order = ChannelOrder(kmeans.order_, kmeans.boundaries_, "kmeans-row")
    save_screenshot(
        volume_plotter(
            cat,
            title=title,
            style=style,
            preset="sparse",
            opacity_scale=0.6,
            order=order,
            gap=3,
            bands=True,
        ),
        OUT / "render_ordered_conv1_cat.png",
    )
    names = ("pembroke", "chihuahua", "Persian_1")
    grads = [reduce_input_channels(np.load(DATA / "gradients" / f"conv1_{n}.npy")) for n in names]
    diverging = Style(
        window_size=(1080, 420),
        normalization="symmetric",
        cmap="coolwarm",
        preset="diverging",
        quantity="gradient",
    )
    save_screenshot(
        compare_plotter(
            grads,
            ["reference: pembroke", "similar: chihuahua", "dissimilar: Persian"],
            style=diverging,
            title="d corgi score / d conv1 weights",
        ),
        OUT / "render_compare_gradients.png",
    )
    _stack(OUT / "render_stack_chelsea.png")


def _stack(target: Path) -> None:
    from volviz.capture.extract import capture
    from volviz.capture.models import load_model
    from volviz.render.load import conv_layers
    from volviz.render.stack import stack_plotter
    from volviz.render.volume import Style, save_screenshot
    from volviz.store import Store

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chelsea.h5"
        capture(load_model("efficientnet-lite0"), ["sample:chelsea"], path, layers=["conv"])
        with Store(path) as store:
            layers = [(k, store.volume(k, 0)) for k in conv_layers(store)]
    plotter = stack_plotter(
        layers,
        title="EfficientNet-Lite0 on chelsea: 49 conv layers",
        style=Style(window_size=(1080, 640)),
    )
    save_screenshot(plotter, target)


if __name__ == "__main__":
    main()
    print("\n".join(str(p.relative_to(ROOT)) for p in sorted(OUT.glob("render_*.png"))))
