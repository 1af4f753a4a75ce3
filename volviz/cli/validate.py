"""``volviz validate``: check a file against the store format."""

from __future__ import annotations

import click


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check FILE against the store format (docs/format.md); exit 1 with the reasons if not.

    For a training run (volviz.track) it says how many complete records FILE holds, also
    when the training process died while writing it.
    """
    from volviz.store import Store
    from volviz.store import validate as check_file
    from volviz.store.validate import run_summary

    problems = check_file(file)
    if problems:
        for problem in problems:
            click.echo(f"invalid: {problem}", err=True)
        raise SystemExit(1)
    with Store(file) as store:
        summary = run_summary(store)
    click.echo(f"{file}: valid volviz store" + (f"; {summary}" if summary else ""))
