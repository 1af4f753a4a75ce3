"""The example notebook runs top to bottom (nbclient) and ``volviz.show`` outside a kernel."""

from __future__ import annotations

import base64
import io
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "examples" / "volviz_notebook.ipynb"


class Page:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body


def fetch_within(url: str, *, seconds: float) -> Page:
    """GET ``url``, retrying refused connections until ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=60) as answer:
                return Page(answer.status, answer.read())
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError) or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


@pytest.mark.slow
def test_example_notebook_runs_and_shows_the_viewer(
    tmp_path: Path, needs_gl: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from PIL import Image

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "commit the notebook with outputs stripped"
    )
    # the kernel's viewer on its loopback, even when the tests run inside a JupyterHub
    for name in ("JUPYTERHUB_SERVICE_PREFIX", "PYVISTA_TRAME_SERVER_PROXY_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "nb"
    work.mkdir()
    env_before = os.environ.get("VTK_DEFAULT_OPENGL_WINDOW")
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    try:
        client = nbclient.NotebookClient(
            notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": work}}
        )
        with client.setup_kernel():
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
            # the kernel is still up: its viewer answers (served from the kernel's loop)
            url = re.search(r'src="([^"]+)"', notebook.cells[3].outputs[-1].data["text/html"])
            assert url is not None
            # The server starts on the kernel's loop once the cell has returned: poll for it.
            page = fetch_within(url.group(1), seconds=120)
            assert page.status == 200 and b"<html" in page.body.lower()
    finally:
        if env_before is None:
            os.environ.pop("VTK_DEFAULT_OPENGL_WINDOW", None)
    show = notebook.cells[3].outputs[-1]
    assert show.output_type == "execute_result"
    data = show.data
    assert '<iframe src="http://127.0.0.1:' in data["text/html"]
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(data["image/png"]))))
    assert picture.std() > 1.0  # a drawn scene, not a blank frame
    assert (work / "digits.h5").is_file() and (work / "digit3.nrrd").is_file()


def test_show_outside_a_kernel_returns_the_png(serve_store: Path, needs_gl: None) -> None:
    import volviz

    image = volviz.show(serve_store, layer="conv1", image="a", normalize="minmax")
    from PIL import Image

    png = image.data if hasattr(image, "data") else image
    frame = np.asarray(Image.open(io.BytesIO(png)).convert("L"), float)
    assert frame.shape == (600, 800) and frame.std() > 1.0
