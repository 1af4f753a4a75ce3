"""The one exception type that ``ordering`` raises for bad input.

It follows volviz's parameter protocol, written once in :mod:`exporters._errors` (this library
cannot import volviz): ``str(exc)`` reads ``metric='cityblock' is not one of ...``; the volviz
CLI names the option instead. Raise as
``OrderingError("is not one of ...", param="metric", value=metric)``.
"""

from __future__ import annotations

from exporters._errors import MISSING, ParamMessage

__all__ = ["MISSING", "OrderingError"]


class OrderingError(ParamMessage, ValueError):
    """Bad input or parameter for an ordering: names the parameter (``param``) and its ``value``.

    Subclasses :class:`ValueError` so that generic callers (and scikit-learn's estimator checks)
    see the builtin type; the volviz CLI turns it into a one-line error in option words.
    """
