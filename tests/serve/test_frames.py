"""The served view's pushes: a still push sends its own new frame at once (trame-vtk's JPEG
encoder runs on a thread; unwaited, the push sent nothing and the frame came 0.5 s later)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest


def delivery_of(window: Any) -> tuple[Any, list[dict[str, Any]], str]:
    """trame-vtk's image delivery protocol on a real ``vtkWebApplication``, unconnected:
    returns it, the list its published replies go to, and ``window``'s view id."""
    pytest.importorskip("trame_vtk")
    from trame_vtk.modules.vtk.protocols import vtkWebPublishImageDelivery
    from vtkmodules.vtkWebCore import vtkWebApplication
    from wslink.websocket import ServerProtocol

    root = ServerProtocol()
    web = vtkWebApplication()
    web.SetImageEncoding(0)  # raw JPEG bytes, as trame-vtk sets it
    root.setSharedObject("app", web)
    delivery = vtkWebPublishImageDelivery(decode=False)
    root.registerLinkProtocol(delivery)
    sent: list[dict[str, Any]] = []
    delivery.publish = lambda _topic, reply: sent.append(dict(reply))
    delivery.addAttachment = lambda payload: payload
    return delivery, sent, str(delivery.get_global_id(window))


def mean_grey(jpeg: bytes) -> float:
    from PIL import Image

    return float(np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"), float).mean())


def test_still_push_sends_its_own_frame(needs_gl: None) -> None:
    import pyvista as pv

    from volviz.serve.app import STILL_QUALITY, attach_interactor
    from volviz.serve.frames import keep_quality, wait_for_encoder

    plotter = pv.Plotter(off_screen=True, window_size=(800, 600))
    try:
        plotter.set_background("black")
        attach_interactor(plotter)
        delivery, sent, view = delivery_of(plotter.ren_win)
        wait_for_encoder(delivery, wait_s=60.0)  # the mechanism, not this machine's speed
        keep_quality(delivery, STILL_QUALITY)
        delivery.add_render_observer(view)  # the page subscribes: the first frame
        assert [mean_grey(r["image"]) for r in sent] == [0.0]
        assert delivery.tracking_views[view]["quality"] == STILL_QUALITY == 95  # not 100
        plotter.set_background("white")
        plotter.add_volume(np.random.default_rng(0).random((40, 40, 40)).astype(np.float32))
        delivery.image_push({"view": view})  # what App's view.update() sends
        assert len(sent) == 2
        assert mean_grey(sent[1]["image"]) > 200  # the new frame, not the old one
        assert not delivery.last_stale_time[view]  # no 0.5 s re-check pending
    finally:
        plotter.close()
