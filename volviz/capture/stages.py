"""Which tensor a layer hands on: its raw output ("pre") or what the next layer receives ("post").

A conv is usually followed by a normalisation and a nonlinearity (conv -> BN -> ReLU6 in
EfficientNet-Lite0, conv -> ReLU(inplace) in alexnet), so its raw output is a tensor no later
layer sees. The post-activation is found in the traced graph (torch.fx), not from names or call
order: from the module's call node, follow the chain of single users through element-wise ops
(normalisations, activations, dropout, element-wise add/mul such as a residual add) and stop at
the first node with several users or at an op that is not element-wise (a conv, a pool, a
flatten). The value of that last node is what the following layer(s) receive.

For torchvision's resnet18 this means: a block's second conv (and its downsample conv) ends at
the block's output, ``relu(bn2(conv2(x)) + identity)``, because the residual add and the ReLU
are element-wise and single-user; the next block receives exactly that tensor.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn
from torch.nn import functional as F

from volviz.capture.hooks import call_key, capture_outputs
from volviz.errors import InputError, literal

STAGES = ("pre", "post", "both")
POST_SUFFIX = "+post"

_NORMS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.LocalResponseNorm,
)
_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
)
_PASS: tuple[type[nn.Module], ...] = (nn.Identity, nn.modules.dropout._DropoutNd)
_FUNCTIONS: dict[Any, str] = {
    F.relu: "relu",
    F.relu_: "relu",
    F.relu6: "relu6",
    F.hardtanh: "hardtanh",
    F.hardtanh_: "hardtanh",
    F.leaky_relu: "leaky_relu",
    F.elu: "elu",
    F.gelu: "gelu",
    F.silu: "silu",
    F.mish: "mish",
    F.hardswish: "hardswish",
    F.hardsigmoid: "hardsigmoid",
    F.sigmoid: "sigmoid",
    F.tanh: "tanh",
    torch.relu: "relu",
    torch.relu_: "relu",
    torch.sigmoid: "sigmoid",
    torch.tanh: "tanh",
    torch.clamp: "clamp",
    torch.clip: "clamp",
}
_NOT_ACTIVATIONS: dict[Any, str] = {
    F.batch_norm: "batch_norm",
    F.dropout: "dropout",
    operator.add: "add",
    operator.iadd: "add",
    operator.mul: "mul",
    operator.imul: "mul",
    torch.add: "add",
    torch.mul: "mul",
}
_METHODS = {
    "relu": "relu",
    "relu_": "relu",
    "clamp": "clamp",
    "clamp_": "clamp",
    "clamp_min": "clamp",
    "clamp_min_": "clamp",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "hardtanh": "hardtanh",
    "hardtanh_": "hardtanh",
}
_METHODS_NOT_ACTIVATIONS = {"add": "add", "add_": "add", "mul": "mul", "mul_": "mul"}


@dataclass(frozen=True)
class PostInfo:
    """Where a captured layer's post-activation is taken, as found in the fx graph.

    Attributes
    ----------
    key : str
        The store key of the raw output (``NAME`` or ``NAME@k``).
    chain : list of str
        The element-wise ops followed, in order (``_bn0``, ``_swish@1``, ``add(+layer1.0.bn1)``);
        empty when the raw output is already what the next layer receives.
    activation : str
        The last nonlinearity of the chain (``ReLU6``, ``relu``), or ``none``.
    node : str
        The fx node whose value is stored (shared by layers whose chains meet, as a resnet
        block's second conv and its downsample conv).
    """

    key: str
    chain: list[str] = field(default_factory=list)
    activation: str = "none"
    node: str = ""

    def attrs(self) -> dict[str, Any]:
        """Layer-group attributes recorded in the store (see docs/format.md)."""
        import json

        return {
            "stage": "post",
            "post_of": self.key,
            "post_chain": json.dumps(self.chain),
            "post_activation": self.activation,
            "post_node": self.node,
        }


def post_key(key: str) -> str:
    """Store key of the post-activation of the layer stored under ``key``."""
    return key + POST_SUFFIX


def split_key(key: str) -> tuple[str, int, str]:
    """``(module name, call index, stage)`` of a store key (``a.b@2+post`` -> a.b, 2, post)."""
    base, plus, _ = key.partition(POST_SUFFIX)
    name, _, call = base.partition("@")
    return name, int(call or 0), "post" if plus else "pre"


def parse_stages(spec: str | Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """Stage of each captured module name.

    ``spec`` is ``pre``, ``post`` or ``both`` for every layer, a comma list whose plain entry
    is the default and ``NAME=STAGE`` entries override it (``post,_conv_stem=both``), or a
    mapping (Python API) with an optional ``"*"`` default.
    """
    if isinstance(spec, str):
        items = [s.strip() for s in spec.split(",") if s.strip()]
        plain = [s for s in items if "=" not in s]
        if len(plain) > 1:
            raise InputError("names more than one default stage", param="stage", value=spec)
        table = {"*": plain[0] if plain else "pre"}
        for item in items:
            if "=" in item:
                name, _, stage = item.partition("=")
                table[name.strip()] = stage.strip()
    else:
        table = {"*": "pre", **spec}
    for name, stage in table.items():
        if stage not in STAGES:
            choices = ", ".join(STAGES)
            if name == "*":
                raise InputError(f"is not one of {choices}", param="stage", value=stage)
            msg = f": layer {name!r} gets {stage!r}, which is not one of {choices}"
            raise InputError(msg, param="stage", value=spec)
        if name != "*" and name not in names:
            msg = (
                f"names {name!r}, which is not one of the captured layers ({', '.join(names[:8])})"
            )
            raise InputError(msg, param="stage", value=spec)
    return {n: table.get(n, table["*"]) for n in names}


def trace(model: nn.Module, names: Sequence[str]) -> fx.Graph:
    """The fx graph of ``model``; the captured modules (and torch.nn's own) are leaves."""
    modules = dict(model.named_modules())
    keep = {id(modules[n]) for n in names}

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return id(m) in keep or super().is_leaf_module(m, qualname)

    try:
        return Tracer().trace(model)
    except Exception as exc:  # fx raises many types (TraceError, TypeError, ...)
        why = literal(f"{type(exc).__name__}: {exc}")
        msg = f": torch.fx cannot trace {type(model).__name__} ({why}); capture {{stage}} instead"
        raise InputError(msg, param="stage", value="post", refs={"stage": "pre"}) from exc


def post_nodes(
    model: nn.Module, graph: fx.Graph, names: Sequence[str]
) -> dict[str, tuple[fx.Node, PostInfo]]:
    """For each call of each module in ``names``: the node its post-activation is read from."""
    calls = _call_keys(graph)
    modules = dict(model.named_modules())
    wanted = set(names)
    found: dict[str, tuple[fx.Node, PostInfo]] = {}
    for node in graph.nodes:
        if node.op == "call_module" and node.target in wanted:
            key = calls[node]
            end, chain, activation = _follow(node, modules, calls)
            found[key] = (end, PostInfo(key, chain, activation, calls.get(end, end.name)))
    missing = [n for n in names if n not in {split_key(k)[0] for k in found}]
    if missing:
        layer = literal(repr(missing[0]))
        msg = (
            f": layer {layer} is not called in the traced graph "
            "(it runs inside another captured module); capture it with {stage}"
        )
        raise InputError(msg, param="stage", value="post", refs={"stage": "pre"})
    return found


def _call_keys(graph: fx.Graph) -> dict[fx.Node, str]:
    """``NAME@k`` of every call_module node: k counts earlier calls of the same module."""
    seen: dict[str, int] = {}
    keys = {}
    for node in graph.nodes:
        if node.op == "call_module":
            target = str(node.target)
            keys[node] = call_key(target, seen.get(target, 0))
            seen[target] = seen.get(target, 0) + 1
    return keys


def _follow(
    start: fx.Node, modules: dict[str, nn.Module], calls: dict[fx.Node, str]
) -> tuple[fx.Node, list[str], str]:
    """Walk single users through element-wise ops; return the last node, chain, activation."""
    node, chain, activation = start, [], "none"
    while len(node.users) == 1:
        user = next(iter(node.users))
        step = _elementwise(user, node, modules, calls)
        if step is None:
            break
        label, act = step
        chain.append(label)
        activation = act or activation
        node = user
    return node, chain, activation


def _elementwise(
    user: fx.Node, prev: fx.Node, modules: dict[str, nn.Module], calls: dict[fx.Node, str]
) -> tuple[str, str | None] | None:
    """``(label, activation or None)`` when ``user`` is element-wise in ``prev``, else None."""
    if user.op == "call_module":
        module = modules.get(str(user.target))
        if isinstance(module, _ACTIVATIONS):
            return calls[user], type(module).__name__
        if isinstance(module, (*_NORMS, *_PASS)):
            return calls[user], None
        return None
    if user.op == "call_function":
        if user.target in _FUNCTIONS:
            return _FUNCTIONS[user.target], _FUNCTIONS[user.target]
        if user.target in _NOT_ACTIVATIONS:
            return _binary_label(_NOT_ACTIVATIONS[user.target], user, prev, calls), None
        return None
    if user.op == "call_method":
        method = str(user.target)
        if method in _METHODS and user.args and user.args[0] is prev:
            return _METHODS[method], _METHODS[method]
        if method in _METHODS_NOT_ACTIVATIONS:
            return _binary_label(_METHODS_NOT_ACTIVATIONS[method], user, prev, calls), None
    return None


def _binary_label(op: str, user: fx.Node, prev: fx.Node, calls: dict[fx.Node, str]) -> str:
    """``add(+other)``: the op and what the chain was combined with."""
    others = [a for a in (*user.args, *user.kwargs.values()) if a is not prev]
    if not others:
        return op
    other = others[0]
    text = calls.get(other, other.name) if isinstance(other, fx.Node) else repr(other)
    return f"{op}({'+' if op == 'add' else '*'}{text})"


class PostRunner(nn.Module):
    """Runs ``model`` through its fx graph, returning ``(output, {post key: clone})``.

    ``names`` are all captured modules (leaves of the trace, so hooks on them fire; hook
    them on ``graph_module``), ``post`` those whose post-activation is kept. The clone is
    taken right after the post node is computed, so a later in-place op cannot change it.
    Modules are shared with ``model``.
    """

    def __init__(self, model: nn.Module, names: Sequence[str], post: Sequence[str]) -> None:
        super().__init__()
        graph = trace(model, names)
        found = post_nodes(model, graph, post)
        self.info = {k: info for k, (_, info) in found.items()}
        clones: dict[fx.Node, fx.Node] = {}
        outputs: dict[str, fx.Node] = {}
        for key, (node, _) in found.items():
            if node not in clones:
                with graph.inserting_after(node):
                    clones[node] = graph.call_method("clone", (node,))
            outputs[post_key(key)] = clones[node]
        out = next(n for n in graph.nodes if n.op == "output")
        out.args = ((out.args[0], outputs),)
        self.graph_module = fx.GraphModule(model, graph)

    def forward(self, x: torch.Tensor) -> tuple[Any, dict[str, torch.Tensor]]:
        output, posts = self.graph_module(x)
        return output, posts


@contextmanager
def staged_outputs(
    model: nn.Module,
    stages: Mapping[str, str],
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    on_output: Callable[[str, torch.Tensor], None] | None = None,
) -> Iterator[tuple[Callable[[torch.Tensor], Any], dict[str, torch.Tensor], dict[str, PostInfo]]]:
    """Run forwards that record each layer's raw output and/or post-activation.

    Yields ``(run, outputs, info)``: ``run(x)`` returns the model's output and refills
    ``outputs`` with ``{key: tensor}`` in network order (``NAME`` for the raw output,
    ``NAME+post`` for what the next layer receives); ``info`` describes each post key's chain.
    Copies are made in ``dtype`` on ``device`` when given. With ``on_output``, each is handed
    to ``on_output(key, tensor)`` in network order instead (as soon as its module has run
    when there is no post stage) and ``outputs`` stays empty. With no post stage the model
    runs as it is (no tracing). Hooks are removed on exit.
    """
    pre = [n for n, s in stages.items() if s in ("pre", "both")]
    post = [n for n, s in stages.items() if s in ("post", "both")]
    if not post:
        with capture_outputs(
            model, pre, dtype=dtype, device=device, on_output=on_output
        ) as raw_only:
            yield model, raw_only, {}
        return
    runner = PostRunner(model, list(stages), post)
    rank = {name: i for i, name in enumerate(stages)}
    outputs: dict[str, torch.Tensor] = {}
    with capture_outputs(runner.graph_module, pre, dtype=dtype, device=device) as raw:

        def run(x: torch.Tensor) -> Any:
            outputs.clear()  # free the last batch's copies before making new ones
            result, posts = runner(x)
            both = {**raw, **{k: v.to(device=device, dtype=dtype) for k, v in posts.items()}}
            order = sorted(both, key=lambda k: _rank(rank, k))
            outputs.clear()
            for key in order:
                if on_output is None:
                    outputs[key] = both[key]
                else:
                    on_output(key, both[key])
            return result

        yield run, outputs, {post_key(k): v for k, v in runner.info.items()}


def _rank(rank: dict[str, int], key: str) -> tuple[int, int, int]:
    name, call, stage = split_key(key)
    return rank[name], call, stage == "post"
