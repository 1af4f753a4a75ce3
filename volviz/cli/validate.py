"""``volviz validate``: check a file against the store format."""

from __future__ import annotations

import click


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check FILE against the store format (docs/format.md); exit 1 with the reasons if not."""
    from volviz.store import validate as check_file

    problems = check_file(file)
    if problems:
        for problem in problems:
            click.echo(f"invalid: {problem}", err=True)
        raise SystemExit(1)
    click.echo(f"{file}: valid volviz store")
