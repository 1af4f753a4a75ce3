"""Errors raised by volviz; each subclasses ``VolvizError`` and the matching builtin.

The parameter protocol
----------------------
An error about one parameter says so in three attributes, so that each interface can name the
parameter in its own words:

``param``
    The Python name of the parameter whose value is wrong (``"batch_size"``), or ``None``.
``value``
    The value the caller gave (``0``); :data:`MISSING` when the value says nothing (a flag).
``detail``
    The rest of the sentence, without the name and the value (``"must be at least 1"``). It may
    refer to *other* parameters as ``{name}`` fields whose values sit in ``refs``
    (``"exists; pass {overwrite} to replace it"``, ``refs={"overwrite": True}``). A ``refs``
    value :data:`MISSING` names the parameter alone (``"needs {layers}"``: ``needs layers``,
    ``needs --layer``). A message without ``param`` may still name parameters through ``refs``.

``str(exc)`` speaks Python: ``batch_size=0 must be at least 1``, ``pass overwrite=True``.
The ``volviz`` command (:mod:`volviz.cli.errors`) looks ``param`` and each ``refs`` name up
among the click parameters of the command that ran (by their Python name, or by the names the
command declares with ``api_names``) and speaks in options: ``--batch-size 0 must be at least 1``,
``pass --force``. A name the command does not know stays in Python words.

The leaf libraries cannot import volviz, so the protocol is written once in
:mod:`exporters._errors` (``ParamMessage``, ``python_words``, ``MISSING``): ``VolvizError``,
:class:`exporters.ExportError` and :class:`ordering.OrderingError` all build on it, and the CLI
reads any exception by these attributes, whatever its class. Raise as
``InputError("must be at least 1", param="batch_size", value=batch_size)``; a plain
``InputError("whole sentence")`` (no ``param``) is shown as written.
"""

from __future__ import annotations

from exporters._errors import MISSING, ParamMessage, literal, python_value, python_words

__all__ = ["MISSING", "ParamMessage", "literal", "python_value", "python_words"]  # the protocol


class VolvizError(ParamMessage, Exception):
    """Base class of every error volviz raises on purpose (see the parameter protocol above);
    constructed as ``VolvizError(detail, param=..., value=..., refs=...)``."""


class InputError(VolvizError, ValueError):
    """An input image, folder, glob or sample name cannot be used."""


class ModelError(VolvizError, ValueError):
    """A model name, weights file or device cannot be used."""


class LayerNotFoundError(VolvizError, KeyError):
    """A layer name or pattern matches no module of the model."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return VolvizError.__str__(self)


class StoreError(VolvizError, ValueError):
    """A store file is missing, foreign, malformed or already exists."""


class NewerFormatError(StoreError):
    """A store file was written by a newer volviz than this one."""
