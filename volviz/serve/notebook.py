"""``volviz.show``: the served viewer inline in a Jupyter cell, or a PNG where it cannot run.

In a running IPython kernel with trame installed, the app of ``volviz serve`` starts as a
task on the kernel's event loop (bound to 127.0.0.1) and the cell shows it in an iframe; the
same output carries a PNG of the first scene, which frontends without live HTML (and saved
notebooks) show instead. Elsewhere (plain Python, no trame, ``png=True``) the result is the
PNG alone (an ``IPython.display.Image`` when IPython is installed, else the PNG's bytes).
"""

from __future__ import annotations

import itertools
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

    def _repr_mimebundle_(self, **_: Any) -> dict[str, Any]:
        import base64

        frame = (
            f'<iframe src="{self.url}" style="width: 100%; height: {self.height}px; '
            'border: none;" title="volviz"></iframe>'
        )
        return {
            "text/html": frame,
            "image/png": base64.b64encode(self.png).decode(),
            "text/plain": f"volviz viewer at {self.url}",
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
    return Shown(url=f"http://127.0.0.1:{port}/index.html", png=picture, app=app)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
