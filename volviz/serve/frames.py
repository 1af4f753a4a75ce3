"""The served view's frames: fast while something moves, full quality after, and sent to
the page as soon as they are encoded.

:func:`sampling` switches a scene between its moving look (coarse ray casting; a stack's
one-volume stand-in) and its still look, as the window does while the camera moves.

trame-vtk draws a view and hands the frame to VTK's JPEG encoder, which runs on its own thread
(``vtkWebApplication``). The push sends the frame only if the encoder has already finished,
which right after the draw it almost never has; otherwise trame-vtk looks again 0.5 s later.
So every still frame (a slider change, a scene switch, the end of a rotation) used to reach
the browser 0.5 s after it was drawn. :func:`wait_for_encoder` makes a still push wait for its
own frame's encoding instead (a few milliseconds for 800x600). While the camera moves trame-vtk
keeps its pipeline (each animation frame sends the previous frame's encoding, the next draw
overlaps the encoding) and nothing waits. :func:`keep_quality` gives a view the page's JPEG
quality from its first push on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# The longest a still push waits for its encoding; past it trame-vtk's own 0.5 s re-check
# sends the frame.
ENCODE_WAIT_S = 0.25
POLL_S = 0.002


def prompt_delivery(server: Any, still_quality: int) -> None:
    """Make ``server``'s image deliveries wait for their encoding and send each new view's
    still frames at ``still_quality`` (when the server starts).

    Call after the page's ``VtkRemoteView`` exists: trame-vtk registers its delivery
    protocol on the server's start, before this hook runs.
    """

    def configure(root: Any) -> None:
        from trame_vtk.modules.vtk.protocols import vtkWebPublishImageDelivery

        for protocol in root.getLinkProtocols():
            if isinstance(protocol, vtkWebPublishImageDelivery):
                wait_for_encoder(protocol)
                keep_quality(protocol, still_quality)

    server.add_protocol_to_configure(configure)


def keep_quality(delivery: Any, quality: int) -> None:
    """Views get JPEG ``quality`` from their first push on, not trame-vtk's 100: the page sets
    the quality of the view it starts with (and after each drag), never of a view swapped in
    (the page used to swap in a new render window at each scene rebuild, whose still frames
    were twice the bytes; it now keeps one, and this covers any frame before the page's own
    setting arrives).

    Wraps ``delivery.push_render`` (trame-vtk calls it through the instance; its RPCs are
    bound to the class, so they are not wrapped).
    """
    push = delivery.push_render

    def push_render(v_id: str, *args: Any, **kwargs: Any) -> Any:
        info = delivery.tracking_views.get(v_id)
        if info is not None and not info.get("volviz_quality"):
            info["quality"] = quality
            info["volviz_quality"] = True
        return push(v_id, *args, **kwargs)

    delivery.push_render = push_render


def wait_for_encoder(delivery: Any, wait_s: float = ENCODE_WAIT_S) -> None:
    """Wrap ``delivery.still_render`` (a trame-vtk ``vtkWebPublishImageDelivery``) so that a
    still push whose frame is still being encoded polls for it, up to ``wait_s`` seconds.

    A poll does not draw again: the view's cached frame is current, only its encoding is
    fetched. The first push of a view (``mtime`` 0) is encoded synchronously by VTK already.
    """
    still: Callable[[dict[str, Any]], dict[str, Any]] = delivery.still_render

    def still_render(options: dict[str, Any]) -> dict[str, Any]:
        reply = still(options)
        end = time.monotonic() + wait_s
        while (
            reply["stale"]
            and options.get("mtime")
            and not delivery.views_in_animations
            and time.monotonic() < end
        ):
            time.sleep(POLL_S)
            reply = still(options)
        return reply

    delivery.still_render = still_render


def sampling(plotter: Any, moving: bool) -> None:
    """Interactive (``moving``) or still sampling for every volume of ``plotter``; a stack
    draws its one-volume stand-in while ``moving`` (49 ray-casting passes are slow even when
    coarse)."""
    import pyvista as pv

    from volviz.render.stack import set_moving
    from volviz.render.volume import apply_sampling, interactive_sampling, still_sampling

    for renderer in plotter.renderers:
        for actor in renderer.actors.values():
            if isinstance(actor, pv.Volume):
                grid = pv.wrap(actor.mapper.GetInput())
                choose = interactive_sampling if moving else still_sampling
                apply_sampling(actor, choose(grid))
    set_moving(plotter, moving)


def running_loop() -> Any:
    """The asyncio loop serving the page, or ``None`` (no page: tests, the PNG fallback)."""
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
