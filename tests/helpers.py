"""Helpers shared by test modules: ``from tests.helpers import run_cli, error_line``.

(A plain ``from conftest import ...`` is ambiguous: every test folder may have a conftest.)
"""

from __future__ import annotations

from pathlib import Path

# The CNN-VIS reference data (see its README), copied into the repo so CI's clean clone has it.
REFERENCE = Path(__file__).resolve().parent / "data" / "cnn-vis"


def run_cli(*args: object, ok: bool = True, env: dict[str, str] | None = None):
    """Invoke ``volviz ARGS`` in-process; with ``ok`` assert it succeeded."""
    from click.testing import CliRunner

    from volviz.cli.main import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, env=env)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def error_line(result) -> str:
    """The single ``Error: ...`` line a failed command must end with (no traceback)."""
    assert result.exit_code != 0
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("Error:"), result.output
    assert "Traceback" not in result.output
    return lines[-1]
