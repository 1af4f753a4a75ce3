"""Helpers shared by test modules: ``from tests.helpers import run_cli, error_line``.

(A plain ``from conftest import ...`` is ambiguous: every test folder may have a conftest.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def private_display(size: tuple[int, int] = (1024, 768)) -> Iterator[dict[str, str]]:
    """A private Xvfb (PyVirtualDisplay); yields the environment for programs to run on it.

    PyVirtualDisplay lets Xvfb pick a free display (``-displayfd``) and reads the number up to
    its newline; a server that dies raises with Xvfb's own stderr. (A hand-written fixture
    that read once and closed the pipe made Xvfb's second write fail with EPIPE: "Cannot
    write display number to fd N".) ``-noreset``: without it Xvfb resets when its last client
    leaves and refuses a connection made meanwhile; pvpython, which probes OpenGL on one
    connection and opens its window on the next, aborted with "bad X server connection".
    The environment drops ``VTK_DEFAULT_OPENGL_WINDOW`` so VTK uses the X window.
    """
    from pyvirtualdisplay import Display

    with Display(
        backend="xvfb",
        size=size,
        color_depth=24,
        manage_global_env=False,
        extra_args=["-nolisten", "tcp", "-noreset"],
    ) as server:
        yield {k: v for k, v in server.env().items() if k != "VTK_DEFAULT_OPENGL_WINDOW"}
