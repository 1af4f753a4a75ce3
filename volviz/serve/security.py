"""Who may talk to ``volviz serve``: loopback binds are open, others need the access token.

The token travels once in the printed URL (``?token=...``); the page then carries it in a
same-site, HTTP-only cookie, so its assets and its websocket are let through. Any request
without either is refused with 403 before trame sees it.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from typing import Any

COOKIE = "volviz_token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A random URL-safe access token (32 bytes of entropy)."""
    return secrets.token_urlsafe(32)


def check_port(host: str, port: int) -> None:
    """Raise ``OSError`` when ``host:port`` cannot be bound (in use, no such address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))


def token_middleware(token: str) -> Any:
    """An aiohttp middleware that refuses requests without ``token`` (query or cookie)."""
    from aiohttp import web

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> Any:
        given = request.query.get("token")
        if given is not None and secrets.compare_digest(given, token):
            response = await handler(request)
            if isinstance(response, web.StreamResponse) and not response.prepared:
                response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
            return response
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and secrets.compare_digest(cookie, token):
            return await handler(request)
        text = "403: volviz serve needs the access token printed at start (?token=...)\n"
        return web.Response(status=403, text=text)

    return guard


def launcher_route(server: Any) -> None:
    """Answer the trame client's session request (``POST /paraview/``): no launcher here.

    The answer (JSON ``null``, no session) sends the client to its own default, the page's
    address: ``ws(s)://`` + the page's host + the page's folder + ``ws``. That keeps a path
    prefix a proxy adds (jupyter-server-proxy's ``/user/NAME/proxy/PORT/``, which the server
    never sees), the scheme the browser used (``wss`` behind an HTTPS hub) and the letter case
    (the client lowercases a ``sessionURL`` it is given). Without the route the page gets a
    405 first (a console error) before the same fallback.
    """
    from aiohttp import web

    async def session(request: web.Request) -> web.Response:
        return web.json_response(None)

    def bind(wslink_server: Any) -> None:
        wslink_server.app.router.add_post("/paraview/", session)

    server.controller.on_server_bind.add(bind)


def protect(server: Any, token: str) -> None:
    """Install the token check on ``server``'s web app before it starts listening."""
    middleware = token_middleware(token)

    def bind(wslink_server: Any) -> None:
        wslink_server.app.middlewares.append(middleware)

    server.controller.on_server_bind.add(bind)
