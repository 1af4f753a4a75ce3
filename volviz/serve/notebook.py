"""``volviz.show``: the served viewer inline in a Jupyter cell, or a PNG where it cannot run.

In a running IPython kernel with trame installed, the app of ``volviz serve`` starts as a
task on the kernel's event loop (bound to 127.0.0.1) and the cell shows it in an iframe; the
same output carries a PNG of the first scene, which frontends without live HTML (and saved
notebooks) show instead. Elsewhere (plain Python, no trame, ``png=True``) the result is the
PNG alone (an ``IPython.display.Image`` when IPython is installed, else the PNG's bytes).

On JupyterHub, Binder or any Jupyter reached through a proxy, the browser cannot reach the
kernel's 127.0.0.1: the iframe then loads the page through jupyter-server-proxy, a path on the
notebook's own origin (``{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/index.html``), as PyVista's
trame plots do, from the same settings (see :func:`viewer_url`).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Any

_COUNTER = itertools.count()


@dataclass
class Shown:
    """What ``show`` returns in a kernel: displays as the live page plus a PNG fallback."""

    url: str
    png: bytes
    height: int = 640
    app: Any = field(default=None, repr=False)
    proxied: bool = False

    def _repr_mimebundle_(self, **_: Any) -> dict[str, Any]:
        import base64

        frame = (
            f'<iframe src="{self.url}" style="width: 100%; height: {self.height}px; '
            'border: none;" title="volviz"></iframe>'
        )
        if self.proxied:
            where = "through jupyter-server-proxy on this notebook's server"
        else:
            where = (
                "on the kernel's machine; on JupyterHub or Binder it is reached through "
                "jupyter-server-proxy (PyVista's pv.global_theme.trame.server_proxy_* settings)"
            )
        return {
            "text/html": frame,
            "image/png": base64.b64encode(self.png).decode(),
            "text/plain": f"volviz viewer at {self.url} ({where})",
        }


def show(
    store_or_path: Any,
    *,
    layer: str | None = None,
    image: int | str = 0,
    scene: str = "volume",
    normalize: str = "percentile",
    cmap: str = "inferno",
    ordering: str = "",
    size: tuple[int, int] = (800, 600),
    png: bool = False,
) -> Any:
    """Show a store in the interactive 3D viewer (``volviz serve``'s page) in a notebook.

    Parameters
    ----------
    store_or_path : str, path-like or volviz.store.Store
        The store; a path is opened read-only and stays open while the viewer runs.
    layer, image :
        What to show first (default: the first layer, image 0).
    scene, normalize, cmap, ordering :
        The page's starting choices (``ordering``: a stored ordering name).
    size : (width, height)
        Render size of the PNG fallback.
    png : bool
        Only the PNG (no server), e.g. for a static report.

    Returns
    -------
    Shown in a kernel with trame (the live page, PNG fallback); else the PNG as an
    ``IPython.display.Image`` (or bytes when IPython is not installed).
    """
    from volviz.serve.session import Choices, Session, check_choices
    from volviz.store import Store

    store = store_or_path if isinstance(store_or_path, Store) else Store(store_or_path)
    session = Session(store, choices=Choices(layer=""), window_size=size)
    session.choices = check_choices(session, layer, str(image))
    session.replace(scene=scene, normalize=normalize, cmap=cmap, ordering=ordering)
    picture = _png(session)
    if png or not _live_possible():
        try:
            from IPython.display import Image
        except ImportError:
            return picture
        return Image(data=picture, format="png")
    return _start(session, picture)


def _png(session: Any) -> bytes:
    import io

    from PIL import Image

    from volviz.render.volume import screenshot_array

    plotter = session.plotter()
    try:
        frame = screenshot_array(plotter)
    finally:
        plotter.close()
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    return buffer.getvalue()


def _live_possible() -> bool:
    """Whether a kernel with a running event loop and trame are here."""
    import importlib.util

    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    return all(importlib.util.find_spec(m) for m in ("trame", "trame_vtk", "trame_vuetify"))


def _start(session: Any, picture: bytes) -> Shown:
    from volviz.serve import make_app
    from volviz.serve.security import launcher_route

    port = _free_port()
    app = make_app(session, name=f"volviz-show-{next(_COUNTER)}", title="volviz")
    launcher_route(app.server)
    app.server.start(
        exec_mode="task",
        port=port,
        host="127.0.0.1",
        open_browser=False,
        show_connection_info=False,
        disable_logging=True,
        timeout=0,
    )
    url, proxied = viewer_url(port)
    if proxied:
        _check_server_proxy(url)
    return Shown(url=url, png=picture, app=app, proxied=proxied)


def viewer_url(port: int) -> tuple[str, bool]:
    """The iframe's address of a viewer listening on 127.0.0.1:``port``, and whether it is proxied.

    PyVista's trame settings decide, so a Jupyter set up for PyVista's trame plots shows
    volviz too: with ``pv.global_theme.trame.server_proxy_enabled`` (on under JupyterHub,
    from ``JUPYTERHUB_SERVICE_PREFIX``, or when ``PYVISTA_TRAME_SERVER_PROXY_PREFIX`` is set)
    the page is ``{server_proxy_prefix}{port}/index.html`` (e.g.
    ``/user/ada/proxy/8123/index.html``: jupyter-server-proxy forwards it, websocket
    included, to 127.0.0.1:8123 behind Jupyter's own login); otherwise
    ``http://127.0.0.1:{port}/index.html``.
    """
    import pyvista as pv

    trame = pv.global_theme.trame
    if not trame.server_proxy_enabled:
        return f"http://127.0.0.1:{port}/index.html", False
    prefix = str(trame.server_proxy_prefix).rstrip("/")
    return f"{prefix}/{port}/index.html", True


def _check_server_proxy(url: str) -> None:
    """Warn when jupyter-server-proxy is not importable (the kernel's environment may differ)."""
    import importlib.util

    if importlib.util.find_spec("jupyter_server_proxy") is None:
        msg = (
            f"volviz.show: the viewer is served through jupyter-server-proxy ({url}), which "
            "this kernel cannot import; if the cell shows a 404, install it where Jupyter "
            "Server runs (pip install jupyter-server-proxy) or call show(..., png=True)"
        )
        warnings.warn(msg, stacklevel=4)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
