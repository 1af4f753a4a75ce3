"""What to explain: a class score of the model's output (one class, the prediction, a class set).

A target is kept apart from how it is explained (weight gradients, saliency, Grad-CAM,
occlusion): every method calls ``target(logits)`` and gets one score per image.

Scores
------
``log_softmax`` (the default) is the log-probability of the class (of the class set: the
log of its summed probability). Every class is on the same scale, and the part of the logits
shared by all classes (which softmax ignores) cancels out of its gradient, so gradients of
different classes can be compared. ``logit`` is the raw output neuron, as CNN-VIS used
(Caffe's fc8); for a class set it is the mean of the set's logits. Note that the gradient of
a log-probability shrinks as the probability nears 1.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from volviz.errors import VolvizError

SCORES = ("log_softmax", "logit", "probability")
DEFAULT_SCORE = "log_softmax"
PRED = "pred"


class TargetError(VolvizError, ValueError):
    """A target (class index, class name, class set) or score cannot be used."""


@dataclass(frozen=True)
class Target:
    """A class score to explain.

    Attributes
    ----------
    classes : tuple of int, or None
        The class (one) or class set (several) whose score is taken; ``None`` means each
        image's own predicted class (argmax of its logits, not differentiated).
    score : {"log_softmax", "logit"}
        Which score of those classes.
    spec : str
        What the user wrote (for the record).
    """

    classes: tuple[int, ...] | None
    score: str = DEFAULT_SCORE
    spec: str = ""

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            msg = f"is not one of {', '.join(SCORES)}"
            raise TargetError(msg, param="score", value=self.score)
        if self.classes is not None and not self.classes:
            raise TargetError("names no class", param="target")

    def class_index(self, logits: torch.Tensor) -> torch.Tensor:
        """Class explained for each image: ndarray-like (N,) int64, -1 for a class set."""
        n = logits.shape[0]
        if self.classes is None:
            return logits.detach().argmax(dim=1)
        value = self.classes[0] if len(self.classes) == 1 else -1
        return torch.full((n,), value, dtype=torch.int64, device=logits.device)

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """Score of each image, shape (N,), differentiable w.r.t. ``logits`` of shape (N, K)."""
        if logits.ndim != 2:
            msg = f"the model's output has shape {tuple(logits.shape)}; targets need (N, K) logits"
            raise TargetError(msg)
        k = logits.shape[1]
        if self.classes is not None and max(self.classes) >= k:
            msg = f": the model has only {k} classes"
            raise TargetError(msg, param="target", value=self.spec or self.classes)
        values = logits if self.score == "logit" else logits.log_softmax(dim=1)
        if self.classes is None:
            index = logits.detach().argmax(dim=1, keepdim=True)
            picked = values.gather(1, index)
        else:
            picked = values[:, list(self.classes)]
        if self.score == "logit":
            return picked.mean(dim=1)
        # A class set's log-probability is that of "any of them": logsumexp of its members.
        log_p = picked.logsumexp(dim=1)
        return log_p.exp() if self.score == "probability" else log_p

    def describe(self, class_names: Sequence[str] = ()) -> str:
        """Short human-readable label: ``263 Pembroke (log_softmax)``."""
        if self.classes is None:
            what = "predicted class"
        else:
            what = "+".join(
                f"{c} {class_names[c]}" if c < len(class_names) else str(c) for c in self.classes
            )
        return f"{what} ({self.score})"

    def as_json(self, class_names: Sequence[str] = ()) -> str:
        """The target as JSON text, for a store attribute."""
        names = (
            [class_names[c] if c < len(class_names) else "" for c in self.classes]
            if self.classes is not None
            else []
        )
        record: dict[str, Any] = {
            "spec": self.spec,
            "classes": PRED if self.classes is None else list(self.classes),
            "class_names": names,
            "score": self.score,
        }
        return json.dumps(record)

    def slug(self) -> str:
        """A name usable as an HDF5 group or file name."""
        text = self.spec or (PRED if self.classes is None else "+".join(map(str, self.classes)))
        return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "target"


def parse_target(
    spec: str | int | Sequence[int] | None,
    class_names: Sequence[str] = (),
    *,
    score: str = DEFAULT_SCORE,
    n_classes: int | None = None,
) -> Target:
    """Build a target from ``pred``, a class index, a class name, or a comma-separated set.

    Parameters
    ----------
    spec : str, int, sequence of int, or None
        ``"pred"`` (or None): each image's predicted class. ``"263"`` / ``263``: a class index.
        ``"Pembroke"``: a class name, matched case-insensitively (also with ``_`` for spaces).
        ``"281,282,285"`` or ``"tabby,tiger cat"``: a class set.
    class_names : sequence of str
        Names of the model's classes (empty: only indices are accepted).
    score : {"log_softmax", "logit"}
    n_classes : int, optional
        Number of classes, to check indices early (default: ``len(class_names)`` if any).
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == PRED):
        return Target(None, score, PRED)
    if isinstance(spec, int):
        spec = str(spec)
    if not isinstance(spec, str):
        return Target(tuple(int(c) for c in spec), score, ",".join(str(c) for c in spec))
    limit = n_classes if n_classes is not None else (len(class_names) or None)
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        msg = "names no class; give an index, a class name or pred"
        raise TargetError(msg, param="target", value=spec)
    classes = tuple(dict.fromkeys(_one_class(p, class_names, limit, spec) for p in parts))
    return Target(classes, score, spec)


def _one_class(part: str, names: Sequence[str], limit: int | None, spec: str) -> int:
    if part.lstrip("-").isdigit():
        index = int(part)
        if index < 0 or (limit is not None and index >= limit):
            bound = f"0..{limit - 1}" if limit is not None else ">= 0"
            msg = f": class index {index} is out of range ({bound})"
            raise TargetError(msg, param="target", value=spec)
        return index
    wanted = _norm(part)
    normed = [_norm(n) for n in names]
    if wanted in normed:
        return normed.index(wanted)
    close = difflib.get_close_matches(part, list(names), n=5, cutoff=0.6)
    if not close:
        close = [n for n in names if wanted in _norm(n)][:5]
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    if not names:
        hint = "; this model has no class names, give a class index"
    msg = f": {part!r} is not a class name{hint}"
    raise TargetError(msg, param="target", value=spec)


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").split())
