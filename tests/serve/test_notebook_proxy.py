"""``volviz.show`` on JupyterHub: the page through a path-stripping proxy, in a real browser.

jupyter-server-proxy serves ``{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/...`` on the notebook's
origin and forwards it, minus that prefix, to 127.0.0.1:port (HTTP and websockets, with the
browser's Host header). The proxy here does the same in a few lines of aiohttp; the viewer is
started by ``volviz.show`` itself on a running event loop, as in a kernel, with the hub's
``JUPYTERHUB_SERVICE_PREFIX`` set.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.serve.test_notebook import fetch_within
from tests.serve.test_serve_browser import browser, changed, drain, picture, stop, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["browser"]  # the module-scoped chromium fixture, shared

HUB_PREFIX = "/user/ada/"
SHOW = """
import asyncio, sys
import volviz
from volviz.serve import notebook

notebook._live_possible = lambda: True  # the loop below stands in for the kernel's

async def main():
    shown = volviz.show(sys.argv[1], layer="conv1", image="a", normalize="minmax")
    print("iframe", shown.url, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""
# What a proxy must not pass on (RFC 9110 7.6.1) and what aiohttp recomputes.
HOP = {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
DROP = HOP | {"content-length", "content-encoding", "accept-encoding"}


@contextmanager
def prefix_proxy() -> Iterator[tuple[int, list[str]]]:
    """Serve ``/user/ada/proxy/{port}/{rest}`` from ``127.0.0.1:{port}/{rest}`` on a thread.

    Yields the proxy's port and the upstream paths it forwarded (``ws`` marks websockets).
    """
    from aiohttp import ClientSession, web

    seen: list[str] = []
    clients: list[ClientSession] = []  # made on the proxy's loop
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def forward(request: web.Request) -> web.StreamResponse:
        port, rest = request.match_info["port"], request.match_info["rest"]
        target = f"http://127.0.0.1:{port}/{rest}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROP}
        client = clients[0]
        if request.headers.get("Upgrade", "").lower() == "websocket":
            seen.append(f"ws /{rest}")
            return await tunnel(request, client, target, headers)
        seen.append(f"{request.method} /{rest}")
        async with client.request(
            request.method,
            target,
            params=request.query,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in DROP}
            return web.Response(status=answer.status, body=body, headers=kept)

    async def start() -> tuple[web.AppRunner, ClientSession]:
        client = ClientSession()
        clients.append(client)
        app = web.Application()
        app.router.add_route("*", r"/user/ada/proxy/{port:\d+}/{rest:.*}", forward)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner, client

    async def close(runner: web.AppRunner, client: ClientSession) -> None:
        await runner.cleanup()
        await client.close()

    runner, client = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    try:
        yield runner.addresses[0][1], seen
    finally:
        asyncio.run_coroutine_threadsafe(close(runner, client), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def tunnel(request: Any, client: Any, target: str, headers: dict[str, str]) -> Any:
    """Join the browser's websocket to one opened upstream, message for message."""
    from aiohttp import WSMsgType, web

    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    protocols = [p.strip() for p in offered.split(",") if p.strip()]
    headers = {k: v for k, v in headers.items() if not k.lower().startswith("sec-websocket")}
    async with client.ws_connect(
        target, headers=headers, protocols=protocols, max_msg_size=0
    ) as upstream:
        down = web.WebSocketResponse(protocols=protocols, max_msg_size=0)
        await down.prepare(request)

        async def pump(source: Any, sink: Any) -> None:
            async for message in source:
                if message.type == WSMsgType.TEXT:
                    await sink.send_str(message.data)
                elif message.type == WSMsgType.BINARY:
                    await sink.send_bytes(message.data)
                else:
                    break
            await sink.close()

        await asyncio.gather(pump(upstream, down), pump(down, upstream))
    return down


def start_show(store: Path, deadline: float = 120.0) -> tuple[subprocess.Popen, str]:
    """``volviz.show`` on a running loop in a subprocess, under a hub; returns the iframe src."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYVISTA_TRAME_")}
    env.update(JUPYTERHUB_SERVICE_PREFIX=HUB_PREFIX, VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow")
    proc = subprocess.Popen(
        [sys.executable, "-c", SHOW, str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    end, lines = time.monotonic() + deadline, []
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if line.startswith("iframe "):
            drain(proc, lines)
            return proc, line.split()[1]
    stop(proc)
    pytest.fail(f"volviz.show gave no iframe: {''.join(lines)}")


def test_show_on_jupyterhub_works_through_the_server_proxy(browser, serve_store: Path) -> None:  # type: ignore[no-untyped-def]
    proc, src = start_show(serve_store)
    try:
        match = re.fullmatch(r"/user/ada/proxy/(\d+)/index\.html", src)
        assert match, src  # a path on the notebook's origin, not the kernel's 127.0.0.1
        fetch_within(f"http://127.0.0.1:{match.group(1)}/index.html", seconds=60)  # listening
        with prefix_proxy() as (port, seen):
            origin = f"http://127.0.0.1:{port}"
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            errors: list[str] = []
            outside: list[str] = []
            sockets: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else 0)
            base = origin + src.rsplit("/", 1)[0] + "/"
            ok = ("data:", "blob:" + origin, base)
            page.on("request", lambda r: None if r.url.startswith(ok) else outside.append(r.url))
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.goto(origin + src)
            wait_for(lambda: picture(page).std() > 1.0, "a non-blank picture through the proxy")
            assert page.locator("#status").inner_text().startswith("conv1, image 0 (a)")
            before = picture(page)
            track = page.locator(".v-input", has_text="threshold").locator(".v-slider-track")
            box = track.first.bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
            wait_for(lambda: changed(page, before), "the picture to change with the threshold")
            assert errors == []
            assert outside == []
            assert sockets == [base.replace("http://", "ws://") + "ws"]
            assert "ws /ws" in seen and "GET /index.html" in seen
            page.close()
    finally:
        stop(proc)
