"""The one exception type that ``ordering`` raises for bad input."""

from __future__ import annotations


class OrderingError(ValueError):
    """Bad input or parameter for an ordering; the message names the parameter and its value.

    Subclasses :class:`ValueError` so that generic callers (and scikit-learn's estimator checks)
    see the builtin type; volviz maps it to its own error types at the CLI boundary.
    """
