"""``volviz serve``: the interactive 3D viewer as a web page (trame, server-side VTK)."""

from __future__ import annotations

import click

from volviz.cli.options import display_scaling_option, follow_options, parse_size


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port (0: any free port).")
@click.option("--layer", help="Layer to start with (default: the first).")
@click.option("--image", default="0", show_default=True, help="Image index or name to start with.")
@click.option(
    "--no-token",
    is_flag=True,
    help="Serve a non-loopback --host without an access token (anyone who can reach it "
    "can read the store's activations).",
)
@display_scaling_option
@click.option("--size", default="800x600", show_default=True, help="Render WIDTHxHEIGHT.")
@follow_options
def serve(
    file: str,
    host: str,
    port: int,
    layer: str | None,
    image: str,
    no_token: bool,
    normalize: str,
    size: str,
    follow: bool,
    interval: float,
    wait: float,
) -> None:
    """Serve FILE as an interactive 3D page: layer and image pickers, scenes (volume,
    threshold, isosurface, slices, stack, compare), colour maps, opacity presets, threshold
    and opacity sliders, stored orderings, slice planes; a click on a voxel shows its
    layer, original channel, row, column and raw value with that channel's map (and its
    top images when the store has /analysis).

    Binds 127.0.0.1 by default (reach it from another machine with
    `ssh -L 8080:127.0.0.1:8080 HOST`). Any other --host needs the access token printed in
    the URL, unless --no-token.
    """
    from volviz.cli.view import open_store, time_source
    from volviz.serve import make_app, plan_address, require_trame, run
    from volviz.serve.session import Session, check_choices

    require_trame()
    window = parse_size(size)
    address = plan_address(host, port, no_token=no_token)
    with open_store(file, follow=follow, wait=wait) as store:
        session = Session(store, choices=None, window_size=window)  # type: ignore[arg-type]
        session.choices = check_choices(session, layer, image)
        session.choices.normalize = normalize
        session.time = time_source(store, follow=follow, wait=wait)
        session.follow = follow
        app = make_app(session, title=f"volviz serve {file}")
        if address.token is None and host not in ("127.0.0.1", "localhost", "::1"):
            click.echo(f"volviz serve: --no-token: anyone who reaches {host} can read {file}")
        run(app, address, echo=click.echo, poll_s=interval if session.time else None)
