"""Errors raised by volviz; each subclasses ``VolvizError`` and the matching builtin."""

from __future__ import annotations


class VolvizError(Exception):
    """Base class of every error volviz raises on purpose."""


class InputError(VolvizError, ValueError):
    """An input image, folder, glob or sample name cannot be used."""


class ModelError(VolvizError, ValueError):
    """A model name, weights file or device cannot be used."""


class LayerNotFoundError(VolvizError, KeyError):
    """A layer name or pattern matches no module of the model."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class StoreError(VolvizError, ValueError):
    """A store file is missing, foreign, malformed or already exists."""


class NewerFormatError(StoreError):
    """A store file was written by a newer volviz than this one."""
