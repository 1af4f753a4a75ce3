from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from volviz.capture import models
from volviz.capture.inputs import InputImage
from volviz.capture.models import load_model, resolve_device
from volviz.errors import ModelError


def test_embedded_efficientnet_knows_chelsea_and_coffee(effnet):
    transform = effnet.preprocess.transform()
    x = torch.stack([transform(InputImage(f"sample:{n}", n).load()) for n in ("chelsea", "coffee")])
    with torch.no_grad():
        top1 = effnet.module(x).argmax(dim=1).tolist()
    assert top1[0] in {281, 282, 285}
    assert top1[1] == 967
    assert effnet.class_names[967] == "espresso"
    assert len(effnet.weights_sha256 or "") == 64


def test_efficientnet_preprocess_is_x_minus_127_over_128():
    from PIL import Image

    pixels = torch.arange(256, dtype=torch.uint8).repeat(256, 1)
    img = Image.fromarray(torch.stack([pixels] * 3, dim=-1).numpy())
    x = models.EFFICIENTNET_LITE.transform()(img)
    assert x.shape == (3, 224, 224)
    want = (torch.arange(16, 240, dtype=torch.float32) - 127) / 128
    torch.testing.assert_close(x[0, 0], want, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_torchvision_random_weights_are_seeded():
    a = load_model("resnet18", seed=3)
    b = load_model("resnet18", weights="random", seed=3)
    c = load_model("resnet18", seed=4)
    wa, wb, wc = (m.module.conv1.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert a.weights == "random" and a.preprocess is models.IMAGENET


@pytest.mark.slow
def test_local_state_dict_and_checkpoint_load(tmp_path):
    src = load_model("resnet18", seed=1).module
    torch.save(src.state_dict(), tmp_path / "sd.pt")
    torch.save({"epoch": 3, "state_dict": src.state_dict()}, tmp_path / "ckpt.pth")
    for name in ("sd.pt", "ckpt.pth"):
        got = load_model("resnet18", weights=str(tmp_path / name), seed=99)
        assert torch.equal(got.module.fc.weight, src.fc.weight)
        assert got.weights_sha256 and got.seed is None


def test_pickled_module_is_refused(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "whole.pt")
    with pytest.raises(
        ModelError, match=r"^weights='.*whole.pt' holds pickled .* refuses to unpickle"
    ):
        load_model("resnet18", weights=str(tmp_path / "whole.pt"))


def test_weights_errors_name_the_weights_parameter(tmp_path):
    missing = str(tmp_path / "missing.pt")
    with pytest.raises(ModelError) as info:
        load_model("resnet18", weights=missing)
    assert str(info.value) == f"weights={missing!r}: no such file"
    torch.save({"step": torch.tensor(1), "note": [1, 2]}, tmp_path / "odd.pt")
    with pytest.raises(ModelError, match=r"^weights='.*odd.pt' holds no state_dict"):
        load_model("resnet18", weights=str(tmp_path / "odd.pt"))


def test_state_dict_of_another_model_is_a_clear_error(tmp_path):
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "lin.pt")
    with pytest.raises(ModelError, match=r"^weights='.*lin.pt' does not fit ResNet"):
        load_model("resnet18", weights=str(tmp_path / "lin.pt"))


def test_named_weights_offline_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(models, "_reachable", lambda host, timeout=3.0: False)
    with pytest.raises(
        ModelError,
        match=r"^weights='DEFAULT': alexnet weights are not cached at .*alexnet-owt.*state_dict",
    ):
        load_model("alexnet", weights="DEFAULT")
    with pytest.raises(ModelError, match=r"^weights='NOPE' is not a weights name of alexnet"):
        load_model("alexnet", weights="NOPE")


def test_unknown_model_and_device():
    with pytest.raises(ModelError, match="MODEL 'lenet9' is not known"):
        load_model("lenet9")
    with pytest.raises(ModelError, match="device='tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            resolve_device("cuda")
        assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("size", [(300, 200), (200, 300), (256, 256), (999, 257), (7, 5)])
def test_pil_transform_equals_torchvision_v2_without_importing_it(size):
    from torchvision.transforms import v2

    pre = models.Preprocess(256, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "t")
    if size == (7, 5):  # smaller than the crop: torchvision pads with zeros
        pre = models.Preprocess(4, 9, (0.5,) * 3, (0.25,) * 3, "t")
    rng = np.random.default_rng(sum(size))
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    reference = v2.Compose(
        [
            v2.Resize(pre.resize, antialias=True),
            v2.CenterCrop(pre.crop),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(pre.mean), std=list(pre.std)),
        ]
    )
    assert torch.equal(pre.transform()(img), reference(img))


def test_default_model_preprocessing_and_class_names_do_not_import_torchvision():
    code = (
        "import sys; from volviz.capture.models import EFFICIENTNET_LITE, imagenet_classes\n"
        "from PIL import Image\n"
        "EFFICIENTNET_LITE.transform()(Image.new('RGB', (300, 200)))\n"
        "assert imagenet_classes()[0] == 'tench' and len(imagenet_classes()) == 1000\n"
        "print('torchvision' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == "False"
