"""The report keeps every section and picture it had before it went parallel and to jinja2."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import volviz.report.layers
from tests.report.outline import load_baseline, missing_from, report_outline
from volviz.capture.extract import capture
from volviz.errors import VolvizError
from volviz.report.html import ReportBuild, build_report
from volviz.report.pool import WorkPool, outcome


@pytest.fixture
def small_store(tiny, tmp_path):
    """The store of tests/report/baseline/small_store.json (same model, inputs and layers)."""
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(4, 1, 10, 14)), dtype=torch.float32)
    return capture(tiny, x, tmp_path / "s.h5", layers=["conv1", "conv2"])


def _pixels(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".png":
            out[path.name] = np.asarray(Image.open(path).convert("RGB"))
        elif path.suffix == ".npy":
            out[path.name] = np.load(path)
    return out


def test_outline_normalises_layer_names():
    page = (
        "<h2>_blocks.3._conv (4x5x6)</h2><img src='blocks_3__conv_maps.png' alt='maps'>"
        "<a href='blocks_3__conv.vti'>VTI</a><h2>Weight gradients</h2><th>top-1</th>"
    )
    assert report_outline(page) == [
        ["h2", "LAYER (shape)"],
        ["img", "{slug}_maps.png", "maps"],
        ["a", "{slug}.vti", "VTI"],
        ["h2", "Weight gradients"],
        ["th", "top-N"],
    ]
    base = [["h2", "A"], ["img", "x.png", "x"]]
    assert missing_from(base, [["h2", "A"], ["h3", "new"], ["img", "x.png", "x"]]) == []
    assert missing_from(base, [["img", "x.png", "x"], ["h2", "A"]]) == [["img", "x.png", "x"]]


@pytest.mark.slow
def test_parallel_report_holds_what_the_serial_one_held(small_store, tmp_path, needs_gl):
    """Same sections, captions and links as the report code before this change, and with 2
    worker processes the same files, pixel for pixel, as all in one process."""
    parallel = build_report(small_store, tmp_path / "p", jobs=2)
    serial = build_report(small_store, tmp_path / "s", jobs=1)
    outline = report_outline(parallel.read_text())
    assert missing_from(load_baseline("small_store"), outline) == []
    assert outline == report_outline(serial.read_text())
    a, b = _pixels(parallel.parent), _pixels(serial.parent)
    assert sorted(a) == sorted(b) and len(a) == 14  # per layer: 6 pictures, the grid's .npy
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    files = re.findall(r"(?:src|href)=[\"']([^\"']+)", parallel.read_text())
    assert len(files) == 2 * 8 + 1  # 6 pictures and 2 voxel files per layer, the 3D page
    for name in files:
        assert (parallel.parent / name).is_file(), name


def test_a_failing_layer_leaves_no_report(small_store, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise VolvizError("layer work failed")

    monkeypatch.setattr(volviz.report.layers, "statistics", broken)
    with pytest.raises(VolvizError, match="layer work failed"):
        build_report(small_store, tmp_path / "r", jobs=1, render=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]


def test_a_report_left_unfinished_leaves_nothing(small_store, tmp_path):
    """The demo's research runs between start and finish: leaving early removes the folder."""

    def start_then(error: Exception | None) -> None:
        with WorkPool(1) as pool, ReportBuild(small_store, tmp_path / "r", pool, render=False):
            if error:
                raise error

    with pytest.raises(RuntimeError, match="research failed"):
        start_then(RuntimeError("research failed"))
    start_then(None)  # no error, but finish() was never called
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]


def test_research_sections_are_escaped_templates(small_store):
    """Names from the store go through jinja2's autoescaping, never into the markup."""
    from volviz.report.results import comparisons_section, importance_section
    from volviz.store import Store
    from volviz.store.results import save_importance

    report = {
        "layer": "conv1",
        "target": "class <b>7</b> & co",
        "image_names": ["a<script>", "b"],
        "pruning": [
            {"removed": "none", "filters": [], "score": -0.5, "top1": 1.0},
            {
                "removed": "top-1",
                "filters": [1],
                "score": -0.75,
                "top1": 0.5,
                "score_change": -0.25,
                "top1_change": -0.5,
            },
        ],
    }
    save_importance(small_store, "x'<y>", report, force=False)
    with Store(small_store) as store:
        html = importance_section(store)
        assert comparisons_section(store) == ""  # no /comparisons group
    assert "<script>" not in html and "<b>7" not in html
    assert "x&#39;&lt;y&gt;" in html and "class &lt;b&gt;7&lt;/b&gt; &amp; co" in html
    assert report_outline(html) == [
        ["h2", "Filter importance and pruning check"],
        ["h3", "x'<y>: conv1, class <b>7</b> & co, images a<script>, b"],
        *[["th", h] for h in ("removed", "filters", "mean score", "change", "top-N", "change")],
    ]
    cells = re.findall(r"<td>([^<]*)</td>", html)
    none = ["none", "", "-0.5000", "+0.0000", "1.000", "+0.000"]
    top1 = ["top-1", "1", "-0.7500", "-0.2500", "0.500", "-0.500"]
    assert cells == none + top1


def test_a_worker_that_dies_is_one_error_line():
    """A crash in native code (VTK without OpenGL segfaults) kills the worker process."""
    import os

    from volviz.report.pool import outcome

    with WorkPool(2) as pool:
        assert outcome(pool.submit(abs, -3)) == 3
        with pytest.raises(VolvizError, match="a worker process died .*--no-3d"):
            outcome(pool.submit(os._exit, 3))


def test_default_jobs_is_one_per_usable_core(monkeypatch):
    import os

    from volviz.report import pool

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (12.0, 12.0, 12.0))  # busy: still 3
    assert pool.default_jobs() == 3


def test_one_job_runs_in_a_worker_unless_inline():
    import os

    with WorkPool(1) as pool:
        assert outcome(pool.submit(os.getpid)) == os.getpid()
    with WorkPool(1, inline=False) as pool:
        assert outcome(pool.submit(os.getpid)) != os.getpid()
