"""The one error type every exporter raises for bad input."""

from __future__ import annotations


class ExportError(ValueError):
    """Bad input to an exporter: the message names the parameter and echoes the bad value.

    Subclasses :class:`ValueError` so callers that catch ``ValueError`` keep working; the
    volviz CLI turns it into a one-line usage error. No partial output file is left behind
    when it is raised.
    """
