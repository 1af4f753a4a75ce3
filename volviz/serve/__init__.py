"""``volviz serve`` and ``volviz.show``: the interactive 3D viewer in a browser (trame).

Needs the ``serve`` extra (``pip install volviz[serve]``: trame, trame-vtk, trame-vuetify).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from volviz.errors import InputError

EXTRA = "the web viewer needs trame: pip install volviz[serve]"


def require_trame() -> None:
    """Raise ``InputError`` naming the extra when trame is not installed."""
    import importlib.util

    missing = [
        m for m in ("trame", "trame_vtk", "trame_vuetify") if importlib.util.find_spec(m) is None
    ]
    if missing:
        msg = f"{EXTRA} ({', '.join(missing)} missing)"
        raise InputError(msg)


@dataclass(frozen=True)
class Address:
    """Where the server listens and the URL to print."""

    host: str
    port: int
    token: str | None

    def url(self, port: int | None = None) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?token={self.token}" if self.token else ""
        return f"http://{shown}:{port if port is not None else self.port}/{query}"


def plan_address(host: str, port: int, *, no_token: bool) -> Address:
    """Check ``host`` / ``port`` before anything starts; a token for non-loopback binds."""
    from volviz.serve.security import check_port, is_loopback, new_token

    if not 0 <= port <= 65535:
        raise InputError("is not in 0..65535", param="port", value=port)
    try:
        check_port(host, port)
    except OSError as exc:
        msg = f"on {{host}} cannot be used ({exc.strerror or exc})"
        raise InputError(msg, param="port", value=port, refs={"host": host}) from exc
    token = None if no_token or is_loopback(host) else new_token()
    return Address(host, port, token)


def make_app(session: Any, *, name: str = "volviz", title: str = "volviz") -> Any:
    """A trame server (not started) showing ``session``; returns the :class:`App`."""
    require_trame()
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    # trame reads sys.argv unless told otherwise: our options are not its options.
    os.environ.setdefault("TRAME_ARGS", "")
    from trame.app import get_server

    from volviz.serve.app import App

    server = get_server(name, client_type="vue3")
    return App(session, server, title=title)


def run(
    app: Any,
    address: Address,
    *,
    echo: Any = print,
    poll_s: float | None = None,
) -> None:
    """Serve ``app`` at ``address`` until interrupted; ``echo`` gets the URL once listening."""
    from volviz.serve.security import launcher_route, protect

    server = app.server
    launcher_route(server)
    if address.token:
        protect(server, address.token)

    def ready(**_: Any) -> None:
        echo(f"volviz serve: open {address.url(server.port)}")

    server.controller.on_server_ready.add(ready)
    if poll_s:
        server.controller.on_server_ready.add(lambda **_: _start_polling(app, poll_s))
    server.start(
        port=address.port,
        host=address.host,
        open_browser=False,
        show_connection_info=False,
        disable_logging=True,
        timeout=0,
        exec_mode="main",
    )


def _start_polling(app: Any, seconds: float) -> None:
    import asyncio

    async def loop() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                app.poll()
            except Exception as exc:  # a bad record must not stop following
                print(f"volviz serve: --follow: {exc}", flush=True)

    app.poll_task = asyncio.get_event_loop().create_task(loop())  # kept: tasks are weak
