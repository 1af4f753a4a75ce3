"""Input images: files, folders (sub-folder names become labels), globs and bundled samples."""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from volviz.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
SAMPLE_PREFIX = "sample:"


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return np.asarray(getattr(data, name)())

    return load


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.asarray(Image.open(str(path)).convert("RGB"))


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(name))

    return load


# Photos that ship offline inside scikit-image, matplotlib and scikit-learn.
SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    "chelsea": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "astronaut": _skimage("astronaut"),
    "rocket": _skimage("rocket"),
    "camera": _skimage("camera"),
    "grace_hopper": _grace_hopper,
    "china": _sklearn("china.jpg"),
    "flower": _sklearn("flower.jpg"),
}


@dataclass(frozen=True)
class InputImage:
    """One input: where it comes from, its display name and its label (or ``""``)."""

    source: str
    name: str
    label: str = ""

    def load(self) -> Image.Image:
        """Read the image as RGB (grey, palette and alpha images converted; alpha on white)."""
        if self.source.startswith(SAMPLE_PREFIX):
            return to_rgb(Image.fromarray(SAMPLES[self.name]()))
        try:
            with Image.open(self.source) as img:
                img.load()
                return to_rgb(img)
        except (OSError, UnidentifiedImageError) as exc:
            msg = f"input {self.source!r} is not a readable image ({exc})"
            raise InputError(msg) from exc

    def sha256(self) -> str:
        """SHA-256 of the file's bytes, or of a bundled sample's pixel array."""
        if self.source.startswith(SAMPLE_PREFIX):
            return hashlib.sha256(SAMPLES[self.name]().tobytes()).hexdigest()
        return hashlib.sha256(Path(self.source).read_bytes()).hexdigest()


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparent pixels become white, not black."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def resolve_inputs(specs: Sequence[str]) -> list[InputImage]:
    """Expand files, folders, globs and ``sample:NAME`` into a list of inputs.

    Every file is opened (header only) here, so an unreadable one fails before any work.
    """
    if not specs:
        msg = "INPUTS is empty: give image files, folders, globs or sample:NAME"
        raise InputError(msg)
    found: list[InputImage] = []
    for spec in specs:
        found.extend(_resolve_one(spec))
    for item in found:
        if not item.source.startswith(SAMPLE_PREFIX):
            _check_readable(item.source)
    return found


def _resolve_one(spec: str) -> list[InputImage]:
    if spec.startswith(SAMPLE_PREFIX):
        name = spec[len(SAMPLE_PREFIX) :]
        if name not in SAMPLES:
            msg = f"input {spec!r} is not a bundled sample; choose from {', '.join(SAMPLES)}"
            raise InputError(msg)
        return [InputImage(spec, name)]
    path = Path(spec)
    if path.is_dir():
        return _folder(path)
    if path.is_file():
        return [InputImage(str(path), path.stem)]
    if glob.has_magic(spec):
        files = sorted(p for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not files:
            msg = f"input pattern {spec!r} matches no files"
            raise InputError(msg)
        return [InputImage(f, Path(f).stem) for f in files]
    msg = f"input {spec!r} does not exist (not a file, folder, glob or sample:NAME)"
    raise InputError(msg)


def _folder(root: Path) -> list[InputImage]:
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        msg = f"input folder {str(root)!r} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
        raise InputError(msg)
    items = []
    for path in files:
        rel = path.relative_to(root)
        label = rel.parts[0] if len(rel.parts) > 1 else ""
        items.append(InputImage(str(path), path.stem, label))
    return items


def _check_readable(source: str) -> None:
    try:
        with Image.open(source) as img:
            img.size  # noqa: B018 - opening parses the header; size proves it parsed
    except (OSError, UnidentifiedImageError) as exc:
        msg = f"input {source!r} is not a readable image ({exc})"
        raise InputError(msg) from exc
