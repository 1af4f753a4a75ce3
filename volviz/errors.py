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

The leaf libraries cannot import volviz: :class:`exporters.ExportError` and
:class:`ordering.OrderingError` carry the same three attributes and render ``str`` the same way
(each holds its own copy of :func:`python_words`); the CLI reads any exception by these
attributes, whatever its class. Raise as ``InputError("must be at least 1", param="batch_size",
value=batch_size)``; a plain ``InputError("whole sentence")`` (no ``param``) is shown as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""``value`` of an error whose value is not worth repeating (a flag, an absent option)."""


def python_value(value: object) -> str:
    """``repr`` of ``value``, paths as their string (``'a/b.png'``, not ``PosixPath(...)``)."""
    return repr(str(value)) if isinstance(value, PurePath) else repr(value)


def python_words(
    param: str | None, value: object, detail: str, refs: Mapping[str, object] | None = None
) -> str:
    """The message in Python words: ``param=value detail``; ``{name}`` refs as ``name=value``."""
    if refs:
        detail = detail.format(
            **{k: k if v is MISSING else f"{k}={python_value(v)}" for k, v in refs.items()}
        )
    if param is None:
        return detail
    head = param if value is MISSING else f"{param}={python_value(value)}"
    return f"{head}{'' if detail[:1] in (':', ',', ';', '') else ' '}{detail}"


class VolvizError(Exception):
    """Base class of every error volviz raises on purpose (see the parameter protocol above).

    Parameters
    ----------
    detail : str
        The whole message, or with ``param`` the rest of the sentence after name and value.
    param : str, optional
        Python name of the parameter whose value is wrong.
    value : object, optional
        The bad value as the caller gave it.
    refs : mapping, optional
        Values of other parameters named as ``{name}`` in ``detail``.
    """

    def __init__(
        self,
        detail: str,
        *,
        param: str | None = None,
        value: object = MISSING,
        refs: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.param = param
        self.value = value
        self.refs = dict(refs or {})

    def __str__(self) -> str:
        return python_words(self.param, self.value, self.detail, self.refs)


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
