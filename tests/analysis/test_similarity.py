"""CKA read from stores: layers x layers, two stores matched by SHA-256, training steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import volviz
from volviz.analysis.cka import cka
from volviz.analysis.similarity import (
    layer_similarity,
    load_similarity,
    pair_similarity,
    save_similarity,
    stored_similarities,
    training_similarity,
)
from volviz.cli.main import cli
from volviz.errors import InputError, StoreError
from volviz.store import Store, StoreWriter

RNG = np.random.default_rng(3)
N = 12
A = RNG.normal(size=(N, 2, 3, 3)).astype(np.float32)
C = RNG.normal(size=(N, 4, 2, 2)).astype(np.float32)
LAYERS = {"a": A, "a_scaled": 2.5 * A, "c": C, "ac": np.concatenate([A, A], axis=1)}


def _store(path, layers, order=None, extra=0):  # type: ignore[no-untyped-def]
    order = np.arange(N) if order is None else np.asarray(order)
    records = [
        {"source": "x", "name": f"im{i}", "label": "", "sha256": f"sha{i}"} for i in order
    ] + [{"source": "x", "name": f"new{j}", "label": "", "sha256": f"new{j}"} for j in range(extra)]
    arrays = {}
    for key, value in layers.items():
        more = RNG.normal(size=(extra, *value.shape[1:])).astype(np.float32)
        arrays[key] = np.concatenate([value[order], more])
    with StoreWriter(path, attrs={"model": "m"}) as writer:
        writer.append(records, arrays)
    return path


def test_layers_by_layers_equals_the_unbiased_estimator_and_knows_its_answers(
    tmp_path, monkeypatch
):
    from volviz.analysis import similarity

    path = _store(tmp_path / "s.h5", LAYERS)
    with Store(path) as store:
        one = layer_similarity(store, batch_size=N)  # one minibatch: the unbiased estimator
        streamed = layer_similarity(store, batch_size=4)
        monkeypatch.setattr(similarity, "BLOCK_BYTES", 1)  # Gram summed channel by channel
        blocks = layer_similarity(store, batch_size=4)
    np.testing.assert_allclose(blocks.matrix, streamed.matrix, rtol=1e-6)
    assert one.rows == ["a", "a_scaled", "c", "ac"] and one.n_batches == 1
    arrays = list(LAYERS.values())
    want = [[cka(x, y, unbiased=True) for y in arrays] for x in arrays]
    np.testing.assert_allclose(one.matrix, want, atol=1e-6)
    for result in (one, streamed):
        assert result.matrix[0, 1] == pytest.approx(1.0, abs=1e-6)  # isotropic scaling
        assert result.matrix[0, 3] == pytest.approx(1.0, abs=1e-6)  # [A, A]: A times sqrt 2 x Q
        np.testing.assert_allclose(np.diag(result.matrix), 1.0, atol=1e-6)
        np.testing.assert_allclose(result.matrix, result.matrix.T, atol=1e-12)
    assert streamed.n_batches == 3 and streamed.n_images == N
    assert abs(streamed.matrix[0, 2]) < 0.5


def test_two_stores_are_matched_by_content_hash(tmp_path):
    a = _store(tmp_path / "a.h5", LAYERS)
    # B holds the same images in another order, plus 3 images A lacks.
    b = _store(tmp_path / "b.h5", {"c": C, "a": A}, order=np.arange(N)[::-1], extra=3)
    with Store(a) as sa, Store(b) as sb:
        result = pair_similarity(sa, sb, ["a", "c"], batch_size=N)
        with Store(a) as same:
            within = layer_similarity(same, ["a", "c"], batch_size=N)
    assert result.cols == ["c", "a"] and result.n_images == N
    np.testing.assert_allclose(result.matrix, within.matrix[:, ::-1], atol=1e-6)
    assert result.attrs["other_model"] == "m"
    few = _store(tmp_path / "few.h5", {"a": A[:3]}, order=np.arange(3))
    with (
        Store(a) as sa,
        Store(few) as sf,
        pytest.raises(InputError, match=r"share 3 images .* at least 4"),
    ):
        pair_similarity(sa, sf)


def test_training_steps_against_the_final_state(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 2, bias=False))
    final = torch.randn(3, 1, 2, 2)
    other = torch.randn(3, 1, 2, 2)
    probe = torch.randn(6, 1, 5, 4)
    with volviz.track(model, tmp_path / "t.h5", probe=probe, layers=["0"]) as tracker:
        for step, weight in enumerate((0.5 * final, other, final)):
            with torch.no_grad():
                model[0].weight.copy_(weight)
            tracker.record(step * 10)
    with Store(tmp_path / "t.h5") as store:
        result = training_similarity(store)
    assert result.rows == ["0", "10", "20"] and result.cols == ["0"]
    assert result.matrix[0, 0] == pytest.approx(1.0, abs=1e-6)  # a scaled copy of the end
    assert result.matrix[2, 0] == pytest.approx(1.0, abs=1e-12)
    with torch.no_grad():
        mid = nn.functional.conv2d(probe, other).numpy()
        end = nn.functional.conv2d(probe, final).numpy()
    assert result.matrix[1, 0] == pytest.approx(cka(mid, end, unbiased=True), abs=1e-6)
    assert result.matrix[1, 0] < 0.99


def test_cli_stores_prints_and_refuses_to_overwrite(tmp_path):
    a = _store(tmp_path / "a.h5", LAYERS)
    b = _store(tmp_path / "b.h5", {"a": A}, order=np.arange(N)[::-1])
    run = CliRunner().invoke
    result = run(cli, ["similarity", str(a), "--batch-size", "4"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "CKA (linear) layers: 12 images, 3 minibatch(es) of ~4" in result.output
    assert "a_scaled" in result.output and "1.000" in result.output
    rbf = run(cli, ["similarity", str(a), str(b), "--kind", "rbf", "--layers", "a,c"])
    assert rbf.exit_code == 0, rbf.output
    with Store(a) as store:
        assert stored_similarities(store) == ["layers-linear", "pair-rbf"]
        stored = load_similarity(store, "pair-rbf")
        assert stored.rows == ["a", "c"] and stored.cols == ["a"]
        assert stored.matrix[0, 0] == pytest.approx(1.0, abs=1e-6)
        assert stored.attrs["other_file"] == str(b)
        assert stored.kind == "rbf" and stored.n_images == N
        with pytest.raises(StoreError, match="no similarity 'x' in a.h5"):
            load_similarity(store, "x")
    again = run(cli, ["similarity", str(a)])
    assert again.exit_code == 1 and "layers-linear exists in a.h5; pass --force" in again.output
    with Store(a) as store:
        first = load_similarity(store, "layers-linear")
    with pytest.raises(StoreError, match=r"layers-linear exists in .*a\.h5; pass force=True to"):
        save_similarity(a, first, force=False)
    bad = run(cli, ["similarity", str(a), "--layers", "nope", "--force"])
    assert bad.exit_code == 1 and "Error: --layers 'nope' is not in a.h5" in bad.output
    small = run(cli, ["similarity", str(a), "--batch-size", "2", "--force"])
    assert small.exit_code == 1 and "--batch-size 2 must be at least 4" in small.output


def test_report_section_draws_every_stored_result(tmp_path):
    from PIL import Image

    from volviz.analysis.similarity import save_similarity
    from volviz.report.similarity import similarity_section

    path = _store(tmp_path / "s.h5", LAYERS)
    with Store(path) as store:
        assert similarity_section(store, tmp_path) == ""
        result = layer_similarity(store, batch_size=4)
    save_similarity(path, result, force=False)
    probe = torch.randn(6, 1, 5, 4)
    model = nn.Sequential(nn.Conv2d(1, 3, 2), nn.ReLU(), nn.Conv2d(3, 2, 2))
    with volviz.track(model, tmp_path / "t.h5", probe=probe) as tracker:
        for step in range(4):
            with torch.no_grad():
                model[0].weight.add_(0.3 * torch.randn(3, 1, 2, 2))
            tracker.record(step)
    with Store(tmp_path / "t.h5") as store:
        result = training_similarity(store)
    save_similarity(tmp_path / "t.h5", result, force=False)
    for file, png in ((path, "similarity_layers-linear.png"), (tmp_path / "t.h5", None)):
        with Store(file) as store:
            page = similarity_section(store, tmp_path)
        png = png or "similarity_training-linear.png"
        assert f"src='{png}'" in page and "Layer similarity (CKA)" in page
        pixels = np.asarray(Image.open(tmp_path / png).convert("L"), dtype=float)
        assert pixels.std() > 10
