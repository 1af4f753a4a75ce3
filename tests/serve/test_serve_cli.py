"""``volviz serve`` bad input: one ``Error:`` line before anything starts (no server)."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import error_line, run_cli
from tests.serve.store import BRIGHT, PERM
from volviz.errors import InputError
from volviz.serve import plan_address


def test_missing_foreign_and_truncated_files(tmp_path: Path, serve_store: Path) -> None:
    line = error_line(run_cli("serve", tmp_path / "nope.h5", ok=False))
    assert "nope.h5" in line and "does not exist" in line
    foreign = tmp_path / "foreign.h5"
    foreign.write_bytes(b"not hdf5 at all")
    assert "not a readable HDF5 file" in error_line(run_cli("serve", foreign, ok=False))
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(serve_store.read_bytes()[:2048])
    assert "truncated.h5" in error_line(run_cli("serve", truncated, ok=False))


def test_unknown_layer_and_image(serve_store: Path) -> None:
    line = error_line(run_cli("serve", serve_store, "--layer", "conv9", ok=False))
    assert "--layer 'conv9'" in line and "conv1" in line
    line = error_line(run_cli("serve", serve_store, "--image", "7", ok=False))
    assert "--image 7 is out of range" in line


def test_port_in_use(serve_store: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        line = error_line(run_cli("serve", serve_store, "--port", port, ok=False))
        with pytest.raises(InputError) as info:
            plan_address("127.0.0.1", port, no_token=False)
    assert line.startswith(f"Error: --port {port} on --host '127.0.0.1' cannot be used (")
    assert str(info.value).startswith(f"port={port} on host='127.0.0.1' cannot be used (")


def test_port_out_of_range_speaks_python_and_options(serve_store: Path) -> None:
    line = error_line(run_cli("serve", serve_store, "--port", 70000, ok=False))
    assert line == "Error: --port 70000 is not in 0..65535"
    with pytest.raises(InputError, match=r"^port=70000 is not in 0\.\.65535$"):
        plan_address("127.0.0.1", 70000, no_token=False)


def test_session_picks_through_the_ordering(serve_store: Path, needs_gl: None) -> None:
    """The Session behind the page, without a browser: exact channel/row/column/value."""
    from volviz.serve.session import Choices, Session
    from volviz.store import Store

    with Store(serve_store) as store:
        session = Session(store, Choices(layer="conv1", ordering="perm", normalize="minmax"))
        session.plotter().close()
        c, r, col = BRIGHT
        z = int(np.flatnonzero(c == PERM)[0])
        dz, dy, dx = session.spacing
        info = session.pick((col * dx, r * dy, z * dz))
        assert info == {
            "layer": "conv1",
            "image": "a",
            "channel": c,
            "position": z,
            "row": r,
            "column": col,
            "value": 7.5,
        }
        # from 1.2 voxels before it along the view ray, the strongest voxel is found
        ray = np.array([0.0, 0.0, 1.0])
        assert session.pick((col * dx, r * dy, (z - 1.2) * dz), ray)["channel"] == c  # type: ignore[index]
        tops = session.top_images(c)
        assert (tops[0]["name"], tops[0]["row"], tops[0]["column"]) == ("a", r, col)
        assert tops[0]["value"] == 7.5


def test_missing_trame_names_the_extra(serve_store: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "trame_vtk" else real(name, *a),
    )
    line = error_line(run_cli("serve", serve_store, ok=False))
    assert "pip install volviz[serve]" in line and "trame_vtk" in line
