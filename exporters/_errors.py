"""The parameter protocol of every volviz error, and the one error type every exporter raises.

volviz, ``ordering`` and this library share one protocol, written here once (the leaf libraries
cannot import volviz; volviz and ``ordering`` import these few lines): an error names
``param`` (the Python parameter name), ``value`` (the bad value, or :data:`MISSING`) and
``detail`` (the rest of the sentence, with other parameters as ``{name}`` fields valued in
``refs``). ``str(exc)`` reads ``path='a/b.png' must end in .png``; the volviz CLI names the option
instead (``--out 'a/b.png' must end in .png``). Raise as
``ExportError("must end in .png", param="path", value=path)``.
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


def literal(text: str) -> str:
    """``text`` for a ``detail`` that has ``{name}`` refs: its own braces kept as written."""
    return text.replace("{", "{{").replace("}", "}}")


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


class ParamMessage:
    """Mixin of the protocol's errors: keeps ``detail``, ``param``, ``value`` and ``refs``, and
    reads as :func:`python_words`. Combine with a builtin: ``class E(ParamMessage, ValueError)``.

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
        super().__init__(detail)  # type: ignore[call-arg]
        self.detail = detail
        self.param = param
        self.value = value
        self.refs = dict(refs or {})

    def __str__(self) -> str:
        return python_words(self.param, self.value, self.detail, self.refs)


class ExportError(ParamMessage, ValueError):
    """Bad input to an exporter: names the parameter (``param``) and the bad value (``value``).

    Subclasses :class:`ValueError` so callers that catch ``ValueError`` keep working; the
    volviz CLI turns it into a one-line error in option words. No partial output file is left
    behind when it is raised.
    """
