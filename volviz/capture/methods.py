"""The 2-D attribution methods as parameter objects: one ``run`` each, plain arrays out.

``volviz attribute`` maps its options onto one of :class:`Saliency`, :class:`GradCam`,
:class:`Occlusion` or :class:`Maximize` and calls :func:`attribute`; the Python API does the
same without the CLI::

    result = attribute(loaded, batch.x, target, GradCam(layer="_conv_head"))
    result.arrays["maps"][0]  # (N, H, W)

Each result carries the arrays with their axis names, the class each image was explained
for, the parameters to record with them, and a default run name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from volviz.capture import attribution as attr
from volviz.capture.layers import CONV_TYPES
from volviz.capture.maximize import AscentParams, maximize
from volviz.capture.models import LoadedModel
from volviz.capture.targets import Target
from volviz.errors import MISSING

Progress = Callable[[int, int], None]
Arrays = dict[str, tuple[np.ndarray, list[str]]]
Computed = tuple[Arrays, np.ndarray, dict[str, Any]]
MAPS = ["sample", "y", "x"]
IMAGES = ["sample", "channel", "y", "x"]


@dataclass
class AttributionResult:
    """What a method computed: arrays (with axis names), classes, recorded parameters."""

    method: str
    arrays: Arrays
    class_index: np.ndarray
    params: dict[str, Any]
    name: str


@dataclass(frozen=True)
class Saliency:
    """Vanilla gradient (``samples=0``) or SmoothGrad of the target w.r.t. the input."""

    samples: int = 0
    noise: float = 0.15
    absolute: bool = True
    channels: str = "max"
    batch_size: int = 16
    seed: int = 0

    method = "saliency"

    def run(
        self, loaded: LoadedModel, x: torch.Tensor, target: Target, progress: Progress
    ) -> Computed:
        params = asdict(self)
        seed = params.pop("seed")
        r = attr.saliency(loaded.module, x, target, seed=seed, **params)
        progress(len(x), len(x))
        arrays = {"maps": (r["maps"], MAPS), "gradients": (r["gradients"], IMAGES)}
        return arrays, r["class_index"], {**params, "seed": seed}

    def name(self, target: Target) -> str:
        return f"saliency-{target.slug()}"


@dataclass(frozen=True)
class GradCam:
    """Grad-CAM on ``layer`` (``None``: the model's last conv)."""

    layer: str | None = None
    batch_size: int = 16

    method = "gradcam"

    def resolve(self, loaded: LoadedModel) -> GradCam:
        if self.layer:
            return self
        names = [n for n, m in loaded.module.named_modules() if isinstance(m, CONV_TYPES)]
        if not names:
            raise attr.AttributionError("the model has no conv layer; name one", param="layer")
        return GradCam(names[-1], self.batch_size)

    def run(
        self, loaded: LoadedModel, x: torch.Tensor, target: Target, progress: Progress
    ) -> Computed:
        assert self.layer is not None  # resolved by attribute()
        r = attr.gradcam(loaded.module, x, self.layer, target, batch_size=self.batch_size)
        progress(len(x), len(x))
        arrays = {"maps": (r["maps"], MAPS), "layer_maps": (r["layer_maps"], MAPS)}
        params = {"layer": self.layer, "variant": "Grad-CAM, ReLU, bilinear upsampling"}
        return arrays, r["class_index"], params

    def name(self, target: Target) -> str:
        return f"gradcam-{self.layer}-{target.slug()}"


@dataclass(frozen=True)
class Occlusion:
    """Occlusion sensitivity: the drop of the target's score (see ``attribution.occlusion``)."""

    window: int = 16
    stride: int = 8
    fill: float = 0.0
    batch_size: int = 16
    clip: float = 99.0

    method = "occlusion"

    def run(
        self, loaded: LoadedModel, x: torch.Tensor, target: Target, progress: Progress
    ) -> Computed:
        r = attr.occlusion(loaded.module, x, target, progress=progress, **asdict(self))
        arrays = {
            "maps": (r["maps"], MAPS),
            "clipped": (r["clipped"], MAPS),
            "base_score": (r["base_score"], ["sample"]),
        }
        return arrays, r["class_index"], {**asdict(self), "value": f"{target.score} drop"}

    def name(self, target: Target) -> str:
        return f"occlusion-{target.slug()}"


@dataclass(frozen=True)
class Maximize:
    """Activation maximization of ``layer``'s ``channel``, or of the target class's logit."""

    ascent: AscentParams = field(default_factory=AscentParams)
    layer: str | None = None
    channel: int | None = None
    start: str | None = None  # "image" (the inputs) or "noise"; None: image when given

    method = "maximize"

    def run(
        self, loaded: LoadedModel, x: torch.Tensor, target: Target, progress: Progress
    ) -> Computed:
        self.ascent.check()
        starts: list[torch.Tensor | None] = list(x) if len(x) else [None]
        classes: list[int | None] = [None] * len(starts)
        if self.layer is None:
            if target.classes is None and not len(x):
                msg = "maximize from noise needs a class"
                raise attr.AttributionError(msg, param="target", value=target.spec)
            fixed = attr.fixed_targets(loaded.module, x, target) if len(x) else [target]
            classes = [int(t.classes[0]) for t in fixed]  # type: ignore[index]
        pre = loaded.preprocess
        mean, std = torch.tensor(pre.mean).view(3, 1, 1), torch.tensor(pre.std).view(3, 1, 1)
        bounds = ((0 - mean) / std, (1 - mean) / std)
        out: dict[str, list[np.ndarray]] = {"image": [], "delta": [], "start": [], "history": []}
        for start, cls in zip(starts, classes, strict=True):
            r = maximize(
                loaded.module,
                layer=self.layer,
                channel=self.channel,
                class_index=cls,
                start=start,
                shape=loaded.input_shape,
                bounds=bounds,
                params=self.ascent,
                progress=progress,
            )
            for key in out:
                out[key].append(r[key])
        arrays = {k: (np.stack(v), IMAGES) for k, v in out.items() if k != "history"}
        arrays["history"] = (np.stack(out["history"]), ["sample", "step"])
        record = {**asdict(self.ascent), "layer": self.layer or "", "channel": self.channel}
        objective = "mean channel activation" if self.layer else "logit"
        record.update(start=self.start or ("image" if len(x) else "noise"), objective=objective)
        return arrays, np.array([-1 if c is None else c for c in classes]), record

    def name(self, target: Target) -> str:
        if self.layer:
            return f"maximize-{self.layer}-{self.channel}"
        return f"maximize-{target.slug()}"


Method = Saliency | GradCam | Occlusion | Maximize


def attribute(
    loaded: LoadedModel,
    x: torch.Tensor,
    target: Target,
    method: Method,
    *,
    progress: Progress | None = None,
) -> AttributionResult:
    """Run ``method`` on the preprocessed images ``x`` (N, 3, H, W) for ``target``.

    ``Maximize`` also runs on an empty ``x`` (from seeded noise); the others need images.
    """
    if isinstance(method, GradCam):
        method = method.resolve(loaded)
    if isinstance(method, Maximize) and method.start == "noise" and len(x):
        raise attr.AttributionError("takes no images", param="start", value="noise")
    if not len(x) and not isinstance(method, Maximize):
        msg = f"holds no image: {method.method} explains images (only maximize starts from noise)"
        raise attr.AttributionError(msg, param="x", value=MISSING)
    arrays, classes, params = method.run(
        loaded, x.to(loaded.device), target, progress or (lambda done, total: None)
    )
    return AttributionResult(method.method, arrays, classes, params, method.name(target))
