"""One ``Error: ...`` line in option words for every error that follows the parameter protocol.

volviz's errors and those of the leaf libraries carry ``param``, ``value``, ``detail`` and
``refs`` (see :mod:`volviz.errors`). :class:`VolvizGroup` remembers which command runs and, when
such an error escapes it, names the command's option for ``param`` (``--batch-size 0 must be at
least 1``) and for each ``refs`` name (``pass --force``). A command whose options are named
differently from the Python parameters declares the mapping with :func:`api_names`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any, TypeVar

import click

from volviz.errors import MISSING, python_value, python_words

C = TypeVar("C", bound=click.Command)

_API_NAMES = "volviz_api_names"
_CONTEXT = "volviz.context"
COMMON_NAMES = {
    "path": "out",
    "overwrite": "force",
    "vox_path": "out",
    "xdmf_path": "xdmf",
    "layer": "layers",
    "image": "images",
    "normalization": "normalize",
    "num_workers": "workers",
    "reduction": "reduce",
    "opacity_scale": "opacity_scale",
    "out_dir": "out",
}
"""API parameter -> click parameter for every command that does not declare its own."""
KEY_VALUE = "*"
"""``api_names`` key: the option (``--param``) that takes any other API parameter as KEY=VALUE."""


def api_names(**names: str | tuple[str, ...]) -> Callable[[C], C]:
    """Declare which click parameter stands for a Python parameter of the API the command calls.

    ``@api_names(path="out", overwrite="force")`` above ``@click.command(...)``: an error about
    ``path`` names ``--out``, a hint ``{overwrite}`` names ``--force``. A tuple names several
    options the value may have come from (``X=("npy", "layer")``: the first one the user gave);
    ``**{KEY_VALUE: "param"}`` renders any other parameter as ``--param NAME=VALUE``.
    """

    def mark(command: C) -> C:
        setattr(command, _API_NAMES, {**getattr(command, _API_NAMES, {}), **names})
        return command

    return mark


def _find(ctx: click.Context | None, name: str) -> tuple[click.Parameter | None, object]:
    """The click parameter standing for API parameter ``name``, and the value the user gave it."""
    if ctx is None:
        return None, None
    command = ctx.command
    declared = getattr(command, _API_NAMES, {})
    wanted = declared.get(name, name)
    if wanted == name and not any(p.name == name for p in command.params):
        wanted = COMMON_NAMES.get(name, name)
    candidates = [wanted] if isinstance(wanted, str) else list(wanted)
    params = {p.name: p for p in command.params}
    found = [(params[c], ctx.params.get(c)) for c in candidates if c in params]
    if not found and KEY_VALUE in declared and declared[KEY_VALUE] in params:
        return params[declared[KEY_VALUE]], KEY_VALUE
    given = [f for f in found if f[1] not in (None, False, (), [])]
    if not (given or found):
        return None, None
    return (given or found)[0]


def _cli_value(value: object, bare: bool = False) -> str:
    """How the value reads on a command line: strings and paths quoted unless ``bare``."""
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    if isinstance(value, str | PurePath) and not bare:
        return repr(str(value))
    return str(value)


def _option_name(param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        return param.human_readable_name
    longs = [o for o in param.opts if o.startswith("--")]
    return (longs or param.opts)[0]


def _words(param: click.Parameter, name: str, value: object, given: object) -> str:
    """Option words for ``name=value``; ``given`` is what the user passed to ``param``."""
    if given is KEY_VALUE:
        shown = "" if value is MISSING else f"={_cli_value(value, bare=True)}"
        return f"{_option_name(param)} {name}{shown}"
    if isinstance(param, click.Option) and param.is_flag:
        if value is False and param.secondary_opts:
            return param.secondary_opts[0]
        return _option_name(param)
    if value is MISSING or hasattr(value, "__array__"):
        value = given
    if value in (None, (), []):
        return _option_name(param)
    return f"{_option_name(param)} {_cli_value(value)}"


def _ref_words(ctx: click.Context | None, name: str, value: object) -> str:
    """A ``refs`` entry in option words; a ``MISSING`` value names the option alone."""
    found, given = _find(ctx, name)
    if value is MISSING:
        if found is None:
            return name
        return f"{_option_name(found)} {name}" if given is KEY_VALUE else _option_name(found)
    return _words(found, name, value, given) if found else f"{name}={python_value(value)}"


def cli_message(exc: BaseException, ctx: click.Context | None) -> str:
    """``exc`` in option words of ``ctx``'s command; names it does not know stay in Python words.

    A value the error does not carry (``MISSING``, an array) is taken from what the user gave
    the option, so ``X`` of ``ordering`` reads ``--npy 'maps.npy': channel 0 contains NaN``.
    A message without ``param`` has only its ``refs`` turned into options.
    """
    param = getattr(exc, "param", None)
    detail = getattr(exc, "detail", None)
    if not isinstance(detail, str) or not (isinstance(param, str) or getattr(exc, "refs", None)):
        return str(exc)
    refs: Mapping[str, object] = getattr(exc, "refs", None) or {}
    if refs:
        detail = detail.format(**{name: _ref_words(ctx, name, v) for name, v in refs.items()})
    if not isinstance(param, str):
        return detail
    value = getattr(exc, "value", MISSING)
    found, given = _find(ctx, param)
    if found is None:
        return python_words(param, value, detail)
    head = _words(found, param, value, given)
    return f"{head}{'' if detail[:1] in (':', ',', ';', '') else ' '}{detail}"


class _Context(click.Context):
    """Records itself in the shared ``meta``: the innermost context is the command that ran."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meta[_CONTEXT] = self


def _count_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value and isinstance(ctx.obj, dict):
        ctx.obj["verbose"] = ctx.obj.get("verbose", 0) + value


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and isinstance(ctx.obj, dict):
        ctx.obj["quiet"] = True


def _global_options() -> list[click.Option]:
    """``-v``/``-q`` of the ``volviz`` group, also accepted after the subcommand."""
    return [
        click.Option(
            ["-v", "--verbose"],
            count=True,
            expose_value=False,
            callback=_count_verbose,
            help="More output (as volviz -v).",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_set_quiet,
            help="No progress or informational lines (as volviz -q).",
        ),
    ]


def _interrupted(ctx: click.Context | None) -> str:
    """What Ctrl-C left: commands with ``--resume`` keep their finished part."""
    if ctx is not None and any(p.name == "resume" for p in ctx.command.params):
        return (
            "Interrupted: the finished batches are kept; run the same command with --resume "
            "to continue where it stopped"
        )
    return "Interrupted"


class VolvizGroup(click.Group):
    """A click group that turns protocol errors into one ``Error: ...`` line in option words.

    Nested groups use this class too, so that the innermost command is the one whose options
    name the parameters.
    """

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and command.context_class is click.Context:
            command.context_class = _Context
            command.params.extend(_global_options())
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        import time

        from volviz.errors import VolvizError

        start = time.perf_counter()
        try:
            result = super().invoke(ctx)
            if ctx.parent is None:  # the top group: the whole command, once
                from volviz.cli.verbose import detail

                inner = ctx.meta.get(_CONTEXT)
                name = inner.command_path if inner is not None else "volviz"
                detail(ctx, f"{name}: {time.perf_counter() - start:.2f} s in all")
            return result
        except VolvizError as exc:
            raise click.ClickException(cli_message(exc, ctx.meta.get(_CONTEXT))) from None
        except KeyboardInterrupt:
            if ctx.parent is not None:  # the top group says it once
                raise
            click.echo(_interrupted(ctx.meta.get(_CONTEXT)), err=True)
            ctx.exit(130)  # 128 + SIGINT, as shells report it
        except OSError as exc:
            # HDF5 refusing a damaged chunk mid-read (its Fletcher32 checksum or decompression
            # failed): HDF5 has no error class for it, only this message.
            if "filter returned failure" not in str(exc):
                raise
            msg = (
                f"a store read failed: its data is damaged ({exc}); "
                "`volviz validate FILE` names the dataset and images"
            )
            raise click.ClickException(msg) from None
        except ValueError as exc:
            # The leaf libraries cannot subclass VolvizError; their errors follow the same
            # protocol. Imported here, not at start-up (they are heavy).
            from exporters import ExportError
            from ordering import OrderingError

            if isinstance(exc, ExportError | OrderingError):
                raise click.ClickException(cli_message(exc, ctx.meta.get(_CONTEXT))) from None
            raise
