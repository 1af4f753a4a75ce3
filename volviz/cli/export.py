"""``volviz export``: voxel files (VTI, NRRD, NIfTI, MetaImage, npy, legacy .vox, ...) and XDMF."""

from __future__ import annotations

import click

from volviz.cli.errors import api_names
from volviz.cli.options import force_option, info_line

FORMAT_NAMES = ["vti", "nrrd", "nifti", "mhd", "npy", "legacy-vox", "magicavoxel", "binvox"]


@api_names(volume="layer")  # the exporters' ``volume`` is the layer's data
@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Voxel file to write.")
@click.option("--layer", help="Layer key (see `volviz info`).")
@click.option("--image", "images", multiple=True, help="Image index or name (repeatable).")
@click.option("--all-images", is_flag=True, help="Every image as 4D (nifti, npy; see --xdmf).")
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), help="Default: from suffix.")
@click.option("--ordering", default=None, help="Apply a stored ordering (see `volviz order`).")
@click.option(
    "--normalize",
    type=click.Choice(["none", "minmax", "percentile", "channel", "symmetric"]),
    default="none",
    show_default=True,
    help="Display scaling to 0..1 before writing (legacy-vox, magicavoxel, binvox scale "
    "themselves).",
)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float16", "uint8"]),
    default="float32",
    show_default=True,
    help="uint8 = rint(normalized * 255); implies --normalize minmax unless given.",
)
@click.option(
    "--spacing",
    default="1,1,1",
    show_default=True,
    help="Voxel size C,H,W, or auto (the renderer's readable box shape).",
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="magicavoxel/binvox: fill voxels above this fraction of the value range (0.5).",
)
@click.option("--cmap", default=None, help="magicavoxel palette colormap.")
@click.option(
    "--oversize",
    type=click.Choice(["error", "downsample"]),
    default=None,
    help="magicavoxel: an axis over 256 voxels is refused (error) or max-pooled (downsample).",
)
@click.option(
    "--xdmf",
    type=click.Path(dir_okay=False),
    help="Instead: an XDMF sidecar (+ FILE.h5 of virtual datasets) for every float32 "
    "layer, each image a time step (ParaView, VisIt); --spacing applies per layer.",
)
@force_option
@click.pass_context
def export(
    ctx: click.Context,
    file: str,
    out: str | None,
    layer: str | None,
    images: tuple[str, ...],
    all_images: bool,
    fmt: str | None,
    ordering: str | None,
    normalize: str,
    dtype: str,
    spacing: str,
    threshold: float | None,
    cmap: str | None,
    oversize: str | None,
    xdmf: str | None,
    force: bool,
) -> None:
    """Export LAYER of FILE for one image (or all, 4D) to a voxel file other tools open.

    Every format puts voxel (channel, row, column) at world (column, -row, -channel) x
    spacing: row 0 on top and channel 0 in front in ParaView, as in `volviz render`. Layer,
    images (in the order given), normalization and the channel order are written into the
    format's metadata where it has a place for them; the array is named after the layer.
    """
    import numpy as np

    import exporters
    from volviz.store import Store
    from volviz.store.views import auto_spacing, layer_view, parse_spacing

    spc = parse_spacing(spacing)
    if xdmf:
        _export_xdmf(ctx, file, xdmf, spc, force)
        return
    if not out or not layer:
        raise click.UsageError("--out and --layer are required (or --xdmf)")
    _check_combination(exporters.format_from_path(out, fmt), all_images, dtype)
    if dtype == "uint8" and normalize == "none":
        normalize = "minmax"
    given = (("threshold", threshold), ("cmap", cmap), ("oversize", oversize))
    options = {k: v for k, v in given if v is not None}
    with Store(file) as store:
        chosen = None if all_images else list(images or ["0"])
        view = layer_view(store, layer, chosen, ordering=ordering, normalization=normalize)
    data = view.data
    if dtype == "uint8":
        data = np.rint(data * 255).astype(np.uint8)
    elif dtype == "float16":
        data = data.astype(np.float16)
    written = exporters.write_volume(
        out,
        data,
        fmt=fmt,  # type: ignore[arg-type]
        spacing=spc or auto_spacing(data.shape[-3:]),
        metadata=view.metadata,
        name=layer,
        overwrite=force,
        **options,
    )
    for path in written:
        info_line(ctx, f"wrote {path}")
    if written[0].suffix == ".nrrd" and data.shape[-1] <= 9:
        info_line(
            ctx,
            f"note: ParaView reads a NRRD with {data.shape[-1]} (9 or fewer) columns as vector "
            "components, not as a volume; open a .vti there",
        )


def _export_xdmf(
    ctx: click.Context,
    file: str,
    xdmf: str,
    spacing: tuple[float, float, float] | None,
    force: bool,
) -> None:
    """Every float32 layer of FILE, each image a time step; ``spacing`` None = auto per layer."""
    import exporters
    from volviz.store import Store
    from volviz.store.views import auto_spacing

    with Store(file) as store:
        entries = []
        for layer in store.layers:
            ds = store.activations(layer)
            if ds.dtype.itemsize == 4:  # XDMF cannot describe float16
                own = spacing or auto_spacing(ds.shape[-3:])
                entries.append((ds.name, ds.shape, ds.dtype, layer, own))
    if not entries:
        raise click.ClickException(
            f"{file}: no float32 layers for XDMF (float16 is not describable)"
        )
    sidecar, views = exporters.write_xdmf(xdmf, file, entries, overwrite=force)
    info_line(ctx, f"wrote {sidecar} ({len(entries)} layers; open it in ParaView or VisIt)")
    info_line(ctx, f"wrote {views} (views into {file}; keep it beside the sidecar)")


def _check_combination(kind: str, all_images: bool, dtype: str) -> None:
    """Refuse option pairs the format cannot honour, in option words."""
    if all_images and kind == "nrrd":
        raise click.UsageError(
            "--all-images with nrrd: ParaView reads only the first image of a 4-D NRRD; "
            "use --xdmf (every image as a time step) or --format nifti/npy"
        )
    if all_images and kind not in ("nifti", "npy"):
        raise click.UsageError(
            f"--all-images: {kind} holds one (C, H, W) volume; use --image for one image, "
            "nifti or npy for all of them, or --xdmf (every image as a time step)"
        )
    if dtype == "float16" and kind != "npy":
        raise click.UsageError(
            f"--dtype float16: only npy stores float16, not {kind}; use --dtype float32 or uint8"
        )
