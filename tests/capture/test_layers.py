from __future__ import annotations

import pytest
import torch

from volviz.capture.layers import layer_table, resolve_layers
from volviz.errors import LayerNotFoundError


def test_conv_glob_and_names_resolve_in_network_order(tiny):
    assert resolve_layers(tiny, ["conv"]) == ["conv1", "conv2"]
    assert resolve_layers(tiny, ["conv2", "rel*"]) == ["relu", "conv2"]
    assert resolve_layers(tiny, ["conv1", "conv1"]) == ["conv1"]


def test_unknown_layer_lists_close_matches(tiny):
    with pytest.raises(
        LayerNotFoundError, match=r"'conv3' matches no layer.*conv1, conv2|conv2, conv1"
    ):
        resolve_layers(tiny, ["conv3"])
    with pytest.raises(LayerNotFoundError, match="'features.*'"):
        resolve_layers(tiny, ["features.*"])


def test_layer_table_reports_shapes_and_calls(tiny, tiny_input):
    rows = {r.name: r for r in layer_table(tiny, tiny_input[:1])}
    assert rows["conv1"].shape == (1, 2, 2, 3)
    assert rows["conv2"].type == "Conv2d"
    assert rows["relu"].calls == 1
    assert not any(m._forward_hooks for m in tiny.modules())


def test_efficientnet_has_49_convs_and_reused_activation(effnet):
    names = resolve_layers(effnet.module, ["conv"])
    assert len(names) == 49
    assert names[0] == "_conv_stem" and names[-1] == "_conv_head"
    rows = {r.name: r for r in layer_table(effnet.module, torch.zeros(1, 3, 224, 224))}
    assert rows["_conv_stem"].shape == (1, 32, 112, 112)
    assert rows["_conv_head"].shape == (1, 1280, 7, 7)
    assert rows["_blocks.1._swish"].calls == 2
