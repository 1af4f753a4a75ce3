"""One scene model, two backends: the HTML page (plotly) shows the values, channel order,
titles, colours, opacity and camera of the scene the PNG (PyVista) shows, and is written
without a VTK Plotter."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import run_cli as run
from volviz.render import viewer
from volviz.render.build import SceneSpec, describe, load_panels
from volviz.render.html import scene_figure
from volviz.render.model import camera_direction
from volviz.render.volume import Style, volume_view
from volviz.store.views import display_range

SCENES = ("volume", "threshold", "isosurface", "slices", "channel", "stack", "compare")


@pytest.fixture(scope="module")
def exact_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conv1 of image 0: 3 channels x 2 rows x 4 columns holding the distinct integers
    0..255 (so min-max display values are exact bytes), with ordering 'perm' = [2, 0, 1]."""
    from volviz.store import StoreWriter
    from volviz.store.orderings import StoredOrdering, save_ordering

    path = tmp_path_factory.mktemp("model") / "exact.h5"
    conv1 = exact_volume()
    inputs = [{"source": "tensor", "name": n, "label": "", "sha256": ""} for n in ("a", "b")]
    with StoreWriter(path, attrs={"model": "test"}) as writer:
        acts = {"conv1": np.stack([conv1, conv1[:, ::-1].copy()])}
        writer.append(inputs, acts, layer_attrs={"conv1": {"module_type": "Conv2d"}})
    perm = StoredOrdering("perm", np.array([2, 0, 1]), np.array([1]), "test")
    save_ordering(path, "conv1", perm)
    return path


def exact_volume() -> np.ndarray:
    return (np.arange(24) * 255 // 23).reshape(3, 2, 4).astype(np.float32)


def page_traces(page: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The figure data and layout a written page hands to ``Plotly.newPlot``."""
    text = page.read_text()
    start = text.index("Plotly.newPlot(")
    rest = text[text.index(",", start) + 1 :].lstrip()
    decoder = json.JSONDecoder()
    data, n = decoder.raw_decode(rest)
    layout, _ = decoder.raw_decode(rest[n:].lstrip()[1:].lstrip())
    return data, layout


def array(value: Any) -> np.ndarray:
    """A trace array as plotly writes it: a list or ``{"dtype", "bdata"}`` (base64)."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def test_html_volume_is_the_panel_volume_in_the_scenes_channel_order(exact_store, tmp_path):
    page = tmp_path / "v.html"
    args = ("--layer", "conv1", "--ordering", "perm", "--normalize", "minmax")
    run("render", exact_store, *args, "--spacing", "2,1,1", "-o", page)
    data, layout = page_traces(page)
    (volume,) = [t for t in data if t["type"] == "volume"]
    expected = exact_volume()[[2, 0, 1]]  # min-max display of 0..255 = the values as bytes
    assert array(volume["value"]).tolist() == expected.ravel().astype(np.uint8).tolist()
    z, y, x = np.unravel_index(np.arange(expected.size), expected.shape)
    assert array(volume["x"]).tolist() == x.tolist()  # x = column
    assert array(volume["y"]).tolist() == y.tolist()  # y = row
    assert array(volume["z"]).tolist() == (2 * z).tolist()  # z = position, spacing 2
    assert layout["title"]["text"] == "conv1  image 0 (a)  3x2x4"
    assert layout["scene"]["zaxis"]["title"]["text"] == "position (perm)"
    assert layout["scene"]["zaxis"]["ticktext"] == ["0", "1", "2"]
    assert volume["colorbar"]["ticktext"] == ["0", "128", "255"]  # data units, as the PNG


def test_html_of_signed_values_keeps_both_signs(tmp_path):
    signed = np.zeros((4, 3, 5), np.float32)
    signed[0], signed[3] = -2.0, 2.0
    npy = tmp_path / "grad.npy"
    np.save(npy, signed)
    page = tmp_path / "g.html"
    run("render", "--npy", npy, "-o", page)  # weights/gradients: symmetric, coolwarm
    data, _ = page_traces(page)
    (volume,) = [t for t in data if t["type"] == "volume"]
    values = array(volume["value"]).reshape(signed.shape)
    assert set(values[0].ravel()) == {0} and set(values[3].ravel()) == {255}
    assert set(values[1:3].ravel()) == {128}  # zero sits mid-scale
    assert volume["colorscale"][0][1] == "rgb(58,76,192)"  # coolwarm's blue end
    assert volume["colorbar"]["ticktext"] == ["-2", "0", "2"]


@pytest.mark.parametrize("scene", SCENES)
def test_html_builds_no_vtk_plotter(exact_store, tmp_path, monkeypatch, scene):
    import pyvista as pv

    def refuse(*_: Any, **__: Any) -> None:
        pytest.fail("a VTK Plotter was built for an HTML page")

    monkeypatch.setattr(pv.Plotter, "__init__", refuse)
    extra = {
        "channel": ("--channel", "1"),
        "compare": ("--image", "a", "--image", "b"),
        "threshold": ("--level", "100"),
        "isosurface": ("--level", "100"),
    }.get(scene, ())
    page = tmp_path / f"{scene}.html"
    run("render", exact_store, "--scene", scene, "--layer", "conv1", *extra, "-o", page)
    data, _ = page_traces(page)
    assert data, f"{scene}: an empty page"


def test_png_and_html_of_one_scene_agree(exact_store, needs_gl):
    from volviz.store import Store

    style = Style(window_size=(320, 240), normalization="minmax", cmap="viridis")
    spec = SceneSpec(layers=("conv1",), ordering="perm", gap=1)
    with Store(exact_store) as store:
        scene = describe(spec, style, load_panels(store, spec))
    from volviz.render.draw import draw

    plotter = draw(scene, style)
    try:
        import pyvista as pv

        (actor,) = [a for a in plotter.renderer.actors.values() if isinstance(a, pv.Volume)]
        shown = np.asarray(actor.mapper.dataset.point_data["activation"])
        fig = scene_figure(scene)
        (volume,) = [t for t in fig.data if t.type == "volume"]
        # the same display values (gap slice included) in the same order
        np.testing.assert_array_equal(np.round(shown * 255).astype(np.uint8), volume.value)
        assert len(volume.value) == 4 * 2 * 4  # 3 channels + 1 gap slice
        colours = actor.prop.GetRGBTransferFunction(0)
        for x, rgb in volume.colorscale:
            want = [round(255 * c) for c in colours.GetColor(x)]
            got = [int(v) for v in rgb[4:-1].split(",")]
            assert np.abs(np.subtract(want, got)).max() <= 1, (x, want, got)
        opacity = actor.prop.GetScalarOpacity()
        top = max(opacity.GetValue(x) for x, _ in volume.opacityscale)
        for x, y in volume.opacityscale:
            assert y == pytest.approx(opacity.GetValue(x) / top, abs=1e-6)
        eye = np.array([volume_eye(fig)[k] for k in "xyz"])
        cam = np.subtract(plotter.camera.position, plotter.camera.focal_point)
        np.testing.assert_allclose(eye / np.linalg.norm(eye), cam / np.linalg.norm(cam))
        assert fig.layout.title.text == scene.views[0].title == "conv1  image 0 (a)  3x2x4"
    finally:
        plotter.close()


def volume_eye(fig: Any) -> dict[str, float]:
    eye = fig.layout.scene.camera.eye
    return {"x": eye.x, "y": eye.y, "z": eye.z}


def test_viewer_draws_the_scene_model() -> None:
    volume = np.arange(24, dtype=np.float32).reshape(3, 2, 4)
    state = viewer.refresh(
        viewer.ViewerState(layers=["l"], image_names=["cat"], load=lambda *_: volume)
    )
    viewer.set_threshold(state, 0.5)
    view = viewer.scene_view(state)
    assert view.title == viewer.status(state) and view.note == state.label
    (layer,) = view.volumes
    np.testing.assert_array_equal(layer.opacity, viewer.current_curve(state))
    np.testing.assert_array_equal(layer.display, state.arranged.volume)
    assert view.axis_titles == ("column", "row", "channel")
    # the colour bar in data units, as `volviz render` draws this layer and image
    lo, hi = display_range([volume], "percentile")
    assert layer.bar is not None and layer.bar.limits == pytest.approx((lo, hi))
    assert view.note == volume_view(volume).note
    direction, up, _ = camera_direction(view.camera)
    assert up == (0.0, 0.0, -1.0) and direction[2] > 0  # channel 0 on top


def test_view_window_and_render_describe_the_same_panel(exact_store) -> None:
    from volviz.render.load import read_ordering
    from volviz.store import Store

    style = Style(normalization="minmax")
    with Store(exact_store) as store:
        spec = SceneSpec(layers=("conv1",), images=("b",), ordering="perm")
        (rendered,) = describe(spec, style, load_panels(store, spec)).views
        state = viewer.ViewerState(
            layers=store.layers,
            image_names=[row["name"] for row in store.inputs],
            load=store.volume,
            ordering_of=lambda layer: read_ordering(store, layer, "perm"),
            image_index=1,
            ordered=True,
            style=style,
        )
        window = viewer.scene_view(viewer.refresh(state))
    (a,), (b,) = rendered.volumes, window.volumes
    np.testing.assert_array_equal(a.display, b.display)
    assert (a.spacing, a.origin, a.cmap, a.signed, a.bar) == (
        b.spacing,
        b.origin,
        b.cmap,
        b.signed,
        b.bar,
    )
    assert (rendered.axes, rendered.axis_titles, rendered.note, rendered.camera) == (
        window.axes,
        window.axis_titles,
        window.note,
        window.camera,
    )
    np.testing.assert_array_equal(a.opacity, b.opacity)  # sliders untouched
    assert "ordered by perm" in window.title and "image 1 b" in window.title
