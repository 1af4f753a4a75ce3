"""2-D exports for papers: feature-map, filter and gradient grids, heatmap overlays.

Every function writes a PNG and, beside it, a ``.npy`` with the values shown (after any
reduction, before any reordering: original channel order). Figures are plain
:class:`matplotlib.figure.Figure` objects rendered by Agg; pyplot is never touched. Titles
name the layer/image/target given; tiles are labelled with their ORIGINAL channel index, so
a reordered grid can be mapped back. Metadata is written into the PNG's text chunks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from exporters import _mosaic as mz
from exporters._atomic import atomic_outputs, check_destination, write_error
from exporters._errors import ExportError
from exporters._validate import check_array, check_metadata

__all__ = ["feature_grid", "filter_grid", "gradient_grid", "heatmap_overlay"]

Reduction = Literal["sum", "abs_sum", "l2"]


def _title(title: str | None, **parts: str | None) -> str:
    if title is not None:
        return title
    return "  |  ".join(f"{k} {v}" for k, v in parts.items() if v is not None)


def _cmap(name: str, *, bad: str = "white") -> Colormap:
    try:
        base = colormaps[name]
    except KeyError:
        msg = f"cmap={name!r} is not a matplotlib colormap"
        raise ExportError(msg) from None
    return base.with_extremes(bad=bad)


def _png_paths(path: str | os.PathLike[str], overwrite: bool) -> list[Path]:
    if not str(path).lower().endswith(".png"):
        raise ExportError("must end in .png", param="path", value=path)
    png = check_destination(path, param="path", overwrite=overwrite)
    npy = check_destination(png.with_suffix(".npy"), param="path", overwrite=overwrite)
    return [png, npy]


def _save(
    fig: Figure, dests: list[Path], raw: np.ndarray, title: str, metadata: Mapping[str, str] | None
) -> list[Path]:
    meta = {"Title": title, "Software": "volviz exporters", **check_metadata(metadata)}
    try:
        with atomic_outputs(dests) as (png, npy):
            fig.savefig(png, format="png", metadata=meta)
            np.save(npy, raw, allow_pickle=False)
    except OSError as exc:
        raise write_error(exc, dests[0], param="path") from exc
    return dests


def _check_order(order: Any, n: int) -> np.ndarray:
    if order is None:
        return np.arange(n)
    perm = np.asarray(order)
    if (
        perm.shape != (n,)
        or perm.dtype.kind not in "iu"
        or not np.array_equal(np.sort(perm), np.arange(n))
    ):
        msg = f"order must be a permutation of range({n}), got {np.array2string(perm, threshold=8)}"
        raise ExportError(msg)
    return perm.astype(np.int64)


def _check_clusters(clusters: Any, n: int) -> np.ndarray | None:
    if clusters is None:
        return None
    labels = np.asarray(clusters)
    if labels.shape != (n,):
        msg = f"clusters must have one label per channel, shape ({n},), got {labels.shape}"
        raise ExportError(msg)
    return labels


def _norm(data: np.ndarray, vmin: float | None, vmax: float | None, *, centred: bool) -> Normalize:
    if centred:
        m = float(np.max(np.abs(data))) if vmax is None else abs(float(vmax))
        m = m or 1.0
        return Normalize(-m, m)
    lo = float(data.min()) if vmin is None else float(vmin)
    hi = float(data.max()) if vmax is None else float(vmax)
    return Normalize(lo, hi if hi > lo else lo + 1.0)


def feature_grid(
    path: str | os.PathLike[str],
    volume: Any,
    *,
    order: Any = None,
    clusters: Any = None,
    layer: str | None = None,
    image: str | None = None,
    title: str | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    value_label: str | None = "activation",
    ncols: int | None = None,
    dpi: int = 100,
    metadata: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Grid of the feature maps of one (C, H, W) volume, one shared colour scale.

    Parameters
    ----------
    path : str or path-like
        Output ``.png``; the values go to the same name with ``.npy`` (original order).
    volume : array_like of shape (C, H, W)
        Finite values, any real dtype.
    order : array_like of int, shape (C,), optional
        Permutation: tile k shows channel ``order[k]``; every tile is labelled with that
        original index.
    clusters : array_like, shape (C,), optional
        Cluster label per ORIGINAL channel; a red staircase separates consecutive tiles
        whose labels differ.
    layer, image, title : str, optional
        The title names layer and image unless ``title`` is given.
    cmap, vmin, vmax, value_label
        Colour mapping and colorbar label.
    ncols : int, optional
        Tiles per row (default: near-square grid).
    dpi : int
        PNG resolution.
    metadata : mapping of str to str, optional
        Written into the PNG text chunks.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    list of Path
        ``[png, npy]``.
    """
    vol = check_array(volume, param="volume", dtypes=None)
    name = _title(title, layer=layer, image=image)
    norm = _norm(vol, vmin, vmax, centred=False)
    return _ordered_grid(
        path, vol, order, clusters, name, cmap, norm, ncols, dpi, value_label, metadata, overwrite
    )


def _ordered_grid(
    path: str | os.PathLike[str],
    vol: np.ndarray,
    order: Any,
    clusters: Any,
    name: str,
    cmap: str,
    norm: Normalize,
    ncols: int | None,
    dpi: int,
    label: str | None,
    metadata: Mapping[str, str] | None,
    overwrite: bool,
) -> list[Path]:
    """Tiles of ``vol`` (C, H, W) in ``order``, each labelled with its original index,
    separators at cluster changes; PNG plus ``vol`` (original order) as .npy."""
    perm = _check_order(order, vol.shape[0])
    labels = _check_clusters(clusters, vol.shape[0])
    dests = _png_paths(path, overwrite)
    fig = mz.grid_figure(
        vol[perm].astype(np.float64),
        [str(i) for i in perm],
        title=name,
        cmap=_cmap(cmap),
        norm=norm,
        separators=mz.boundaries(labels, perm),
        ncols=ncols,
        dpi=dpi,
        colorbar_label=label,
    )
    return _save(fig, dests, vol, name, metadata)


def _reduce(weights: np.ndarray, reduction: str, param: str) -> np.ndarray:
    if reduction == "sum":
        return weights.sum(axis=1)
    if reduction == "abs_sum":
        return np.abs(weights).sum(axis=1)
    if reduction == "l2":
        return np.sqrt(np.square(weights.astype(np.float64)).sum(axis=1))
    msg = f"{param} must be 'sum', 'abs_sum' or 'l2', got {reduction!r}"
    raise ExportError(msg)


def filter_grid(
    path: str | os.PathLike[str],
    weights: Any,
    *,
    mode: Literal["auto", "rgb", "channels", "sum", "abs_sum", "l2"] = "auto",
    layer: str | None = None,
    title: str | None = None,
    cmap: str = "RdBu_r",
    ncols: int | None = None,
    dpi: int = 100,
    metadata: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Grid of conv filters (O, I, kh, kw).

    Modes: ``"rgb"`` (needs I == 3) shows each filter as a colour patch, min-max scaled per
    filter (pattern, not magnitude; no colorbar); ``"channels"`` shows every (filter, input)
    kernel labelled ``o:i``, the I kernels of a filter side by side and filters fenced by grey
    lines, on a diverging scale centred at 0;
    ``"sum"``, ``"abs_sum"``, ``"l2"`` reduce the input axis first. ``"auto"`` is rgb when
    I == 3, channels when O * I <= 1024, else l2.

    Returns
    -------
    list of Path
        ``[png, npy]``; the ``.npy`` holds the weights as given (rgb, channels) or reduced.
    """
    w = check_array(weights, param="weights", ndims=(4,), layout="(O, I, kh, kw)", dtypes=None)
    o, i = w.shape[:2]
    modes = ("auto", "rgb", "channels", "sum", "abs_sum", "l2")
    if mode not in modes:
        msg = f"mode must be one of {', '.join(map(repr, modes))}, got {mode!r}"
        raise ExportError(msg)
    if mode == "auto":
        mode = "rgb" if i == 3 else "channels" if o * i <= 1024 else "l2"
    if mode == "rgb" and i != 3:
        msg = f"mode='rgb' needs 3 input channels, weights have shape {w.shape}"
        raise ExportError(msg)
    dests = _png_paths(path, overwrite)
    name = _title(title, layer=layer)
    common: dict[str, Any] = {"title": name, "separators": [], "dpi": dpi}
    if mode == "rgb":
        tiles = np.moveaxis(w.astype(np.float64), 1, -1)
        lo = tiles.min(axis=(1, 2, 3), keepdims=True)
        span = tiles.max(axis=(1, 2, 3), keepdims=True) - lo
        tiles = (tiles - lo) / np.where(span > 0, span, 1.0)
        labels = [str(k) for k in range(o)]
        fig = mz.grid_figure(
            tiles, labels, cmap=None, norm=None, ncols=ncols, colorbar_label=None, **common
        )
        return _save(fig, dests, w, name, metadata)
    if mode == "channels":
        tiles = w.reshape(o * i, *w.shape[2:]).astype(np.float64)
        labels = [f"{a}:{b}" for a in range(o) for b in range(i)]
        raw = w
        per_row = max(1, round(math.sqrt(o * (w.shape[2] + 2) / (i * (w.shape[3] + 1)))))
        ncols = i * per_row if ncols is None else ncols
        common["separators"] = [k * i for k in range(1, o)]
        common["separator_color"] = "0.35"
    else:
        raw = _reduce(w, mode, "mode")
        tiles = raw.astype(np.float64)
        labels = [str(k) for k in range(o)]
    fig = mz.grid_figure(
        tiles,
        labels,
        cmap=_cmap(cmap),
        norm=_norm(tiles, None, None, centred=True),
        ncols=ncols,
        colorbar_label="weight" if mode == "channels" else f"weight ({mode})",
        **common,
    )
    return _save(fig, dests, raw, name, metadata)


def gradient_grid(
    path: str | os.PathLike[str],
    gradients: Any,
    *,
    reduction: Reduction = "sum",
    order: Any = None,
    clusters: Any = None,
    layer: str | None = None,
    image: str | None = None,
    target: str | None = None,
    title: str | None = None,
    cmap: str = "RdBu_r",
    vmax: float | None = None,
    ncols: int | None = None,
    dpi: int = 100,
    metadata: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Grid of weight gradients on a diverging colour scale centred at 0 (symmetric limits).

    Parameters
    ----------
    gradients : array_like of shape (O, I, kh, kw) or (C, H, W)
        4-D gradients are reduced over the input axis with ``reduction`` ("sum" as CNN-VIS
        did, "abs_sum", "l2"); 3-D volumes are shown as they are.
    vmax : float, optional
        Colour limit ``|v|`` (default: ``max |gradient|``).
    order, clusters, layer, image, title, ncols, dpi, metadata, overwrite
        As in :func:`feature_grid`; ``target`` names the explained class in the title.

    Returns
    -------
    list of Path
        ``[png, npy]``; the ``.npy`` is the (C, H, W) volume shown, original order.
    """
    g = check_array(
        gradients,
        param="gradients",
        ndims=(3, 4),
        dtypes=None,
        layout="(O, I, kh, kw) or (C, H, W)",
    )
    vol = _reduce(g, reduction, "reduction") if g.ndim == 4 else g
    name = _title(title, layer=layer, image=image, target=target)
    label = f"gradient ({reduction} over inputs)" if g.ndim == 4 else "gradient"
    norm = _norm(vol, None, vmax, centred=True)
    return _ordered_grid(
        path, vol, order, clusters, name, cmap, norm, ncols, dpi, label, metadata, overwrite
    )


def heatmap_overlay(
    path: str | os.PathLike[str],
    heatmap: Any,
    image: Any,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    vmin: float | None = None,
    vmax: float | None = None,
    layer: str | None = None,
    image_name: str | None = None,
    target: str | None = None,
    method: str | None = None,
    title: str | None = None,
    value_label: str | None = "attribution",
    dpi: int = 100,
    metadata: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Overlay a 2-D map (Grad-CAM, saliency, occlusion) on its input image.

    Parameters
    ----------
    heatmap : array_like of shape (h, w)
        Any resolution: it is stretched over the whole image with bilinear interpolation.
    image : array_like of shape (H, W, 3), uint8
        The RGB input.
    alpha : float
        Opacity of the heatmap, in [0, 1].
    cmap, vmin, vmax, value_label
        Colour mapping (default range: the map's min and max) and colorbar label.
    layer, image_name, target, method, title
        The title names them unless ``title`` is given.

    Returns
    -------
    list of Path
        ``[png, npy]``; the ``.npy`` is the heatmap as given.
    """
    hm = check_array(heatmap, param="heatmap", ndims=(2,), layout="(h, w)", dtypes=None)
    rgb = np.asarray(image)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        msg = f"image must be (H, W, 3) uint8, got shape {rgb.shape} dtype {rgb.dtype}"
        raise ExportError(msg)
    if not 0.0 <= float(alpha) <= 1.0:
        msg = f"alpha must be in [0, 1], got {alpha!r}"
        raise ExportError(msg)
    dests = _png_paths(path, overwrite)
    name = _title(title, method=method, layer=layer, image=image_name, target=target)
    height, width = rgb.shape[:2]
    fig_w = 7.0
    fig_h = fig_w * height / width * 0.8 + 0.7
    fig = Figure(figsize=(fig_w, fig_h), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(rgb, interpolation="nearest")
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    overlay = ax.imshow(
        hm.astype(np.float64),
        cmap=_cmap(cmap),
        alpha=float(alpha),
        norm=_norm(hm, vmin, vmax, centred=False),
        extent=extent,
        interpolation="bilinear",
    )
    ax.set_axis_off()
    bar = fig.colorbar(overlay, ax=ax, shrink=0.9)
    if value_label:
        bar.set_label(value_label)
    fig.suptitle(name, fontsize=11, wrap=True)
    return _save(fig, dests, hm, name, metadata)
