"""Make the README's CKA pictures in docs/images/ (offline, about a minute on 1 thread).

EfficientNet-Lite0 (embedded ImageNet weights) and alexnet (torchvision, random weights,
seed 0: no trained alexnet ships offline) on the 14 bundled photos (the 8 ``sample:`` photos
and CNN-VIS's 6 dog and cat photos), every conv layer's post-activation (what the next layer
receives). Both heatmaps use one minibatch of all 14 photos (the unbiased estimator).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "images"
PHOTOS = ROOT / "tests" / "data" / "cnn-vis" / "images"


def main() -> None:
    import torch

    from volviz.analysis.similarity import layer_similarity, pair_similarity
    from volviz.capture.extract import capture
    from volviz.capture.inputs import SAMPLES
    from volviz.capture.models import load_model
    from volviz.report.similarity import heatmap_png
    from volviz.store import Store

    torch.set_num_threads(1)
    inputs = [f"sample:{name}" for name in SAMPLES] + [str(PHOTOS)]
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        eff, alex = Path(tmp) / "eff.h5", Path(tmp) / "alex.h5"
        capture(load_model(), inputs, eff, stage="post")
        capture(load_model("alexnet", seed=0), inputs, alex, stage="post")
        with Store(eff) as a, Store(alex) as b:
            n = a.n_images
            own = layer_similarity(a, batch_size=n)
            title = f"EfficientNet-Lite0, 49 conv layers (post-activation), {n} photos"
            heatmap_png(OUT / "cka_efficientnet_layers.png", own, title)
            pair = pair_similarity(b, a, batch_size=n)
            title = f"alexnet, random weights (rows) x EfficientNet-Lite0 (columns), {n} photos"
            heatmap_png(OUT / "cka_efficientnet_vs_alexnet.png", pair, title)
    print(f"wrote {OUT / 'cka_efficientnet_layers.png'} and cka_efficientnet_vs_alexnet.png")


if __name__ == "__main__":
    main()
