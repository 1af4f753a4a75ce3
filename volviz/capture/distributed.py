"""The same capture on a Dask cluster: one shard store per task, merged through HDF5 VDS.

The inputs are cut into contiguous shards; each task captures its shard into
``OUT.shards/shard-NNNNN.h5`` (resumable like any capture) and may aggregate it; the client
then writes ``OUT`` as virtual datasets over the shards (``volviz.store.shards``), so the
merged store lists the images in input order, as a one-process capture would.

A real cluster: start ``dask scheduler`` and ``dask worker tcp://HOST:8786 --nthreads 1``
on machines that see the same file system (inputs and the output folder), then pass
``client="tcp://HOST:8786"`` (or ``--scheduler`` on the command line). Paths are made
absolute on the client, so workers started in other folders find the same files.

Everything that can be checked without the cluster (model, weights, layers, options, inputs)
is checked on the client before a task is submitted. A task retried because its worker died
takes over the unfinished shard its predecessor left (same run, same settings) and resumes
it; a shard left by an earlier run is resumed only with ``resume``.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import DataLoader, Dataset

from volviz.capture.models import LoadedModel
from volviz.errors import InputError
from volviz.store.writer import check_target

ModelSpec = LoadedModel | nn.Module | str | Callable[[], LoadedModel | nn.Module]
Progress = Callable[[int, int], None]


def capture_distributed(
    model: ModelSpec,
    inputs: Sequence[str] | Dataset,
    out: str | os.PathLike[str],
    *,
    client: Any = None,
    workers: int = 2,
    shards: int | None = None,
    layers: Sequence[str] = ("conv",),
    batch_size: int = 16,
    dtype: str = "float32",
    compress: bool | str = False,
    resume: bool = False,
    force: bool = False,
    top_k: int | None = None,
    torch_threads: int = 1,
    progress: Progress | None = None,
) -> Path:
    """Capture ``inputs`` on a Dask cluster into shard stores and merge them into ``out``.

    Parameters
    ----------
    model : LoadedModel, nn.Module, str or callable
        A model (sent to the workers), a model name for ``load_model`` (loaded on each
        worker), or a picklable callable returning one.
    inputs : sequence of str or Dataset
        Image files, folders, globs, samples, or a map-style torch Dataset (sharded by index).
    out : path-like
        The merged store; the shards go to the folder ``OUT.shards`` beside it.
    client : dask.distributed.Client, str or None
        A client, a scheduler address (``tcp://host:8786``), or None for a LocalCluster of
        ``workers`` single-threaded worker processes, closed afterwards.
    workers : int
        Worker processes of the LocalCluster (``client=None``).
    shards : int, optional
        Number of shards (default: twice the number of workers).
    top_k : int, optional
        Also aggregate each shard (per-label mean/variance, top-k per channel); the merged
        store gets the exact merge.
    torch_threads : int
        ``torch.set_num_threads`` in each task.

    Returns
    -------
    Path
        ``out``.
    """
    out = Path(out).absolute()
    if isinstance(inputs, DataLoader):
        msg = "inputs: a DataLoader cannot be sharded; pass its Dataset (loader.dataset)"
        raise InputError(msg)
    check_target(out, force=force)
    options = {
        "layers": list(layers),
        "batch_size": batch_size,
        "dtype": dtype,
        "compress": compress,
        "resume": resume,
        "force": force,
    }
    if workers < 1:
        raise InputError("must be at least 1", param="workers", value=workers)
    check_options(model, options, top_k)
    if shards is not None and shards < 1:
        raise InputError("must be at least 1", param="shards", value=shards)
    items = inputs if isinstance(inputs, Dataset) else _absolute_items(inputs)
    folder = out.with_name(f"{out.name}.shards")
    made = not folder.exists()
    try:
        with ExitStack() as stack:
            dask = _client(client, workers, stack)
            workers = len(dask.scheduler_info()["workers"])
            parts = _shards(items, shards or 2 * max(1, workers))
            if isinstance(model, LoadedModel | nn.Module):  # sent once to each worker
                model = dask.scatter(model, broadcast=True, hash=False)
            folder.mkdir(exist_ok=True)
            tasks = [(part, folder / f"shard-{i:05d}.h5") for i, part in enumerate(parts)]
            run = partial(
                capture_shard,
                options=options,
                top_k=top_k,
                torch_threads=torch_threads,
                run_id=uuid.uuid4().hex,
            )
            paths = _run(dask, run, model, tasks, f"volviz-shard-{out.name}", progress)
    except BaseException:
        if made and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
    from volviz.store.shards import merge_shards

    return merge_shards(paths, out, force=force)


def check_options(model: ModelSpec, options: dict[str, Any], top_k: int | None) -> None:
    """Fail on the client, before any task, for what every worker would fail on.

    A model given by name or factory is built here once: unknown names, unreadable weights
    and layer names that match nothing raise now, not from each worker's log.
    """
    from volviz.capture.extract import as_loaded
    from volviz.capture.layers import resolve_layers
    from volviz.store.compression import codec_name, dataset_filters
    from volviz.store.writer import DTYPES

    if options["batch_size"] < 1:
        raise InputError("must be at least 1", param="batch_size", value=options["batch_size"])
    if top_k is not None and top_k < 1:
        raise InputError("must be at least 1", param="top_k", value=top_k)
    if options["dtype"] not in DTYPES:
        msg = f"is not one of {', '.join(DTYPES)}"
        raise InputError(msg, param="dtype", value=options["dtype"])
    dataset_filters(codec_name(options["compress"]))
    resolve_layers(as_loaded(_load(model)).module, options["layers"])


def _absolute_items(inputs: Sequence[str] | str) -> list[Any]:
    """Resolve image specs here; file paths absolute, as workers run in other folders."""
    from volviz.capture.inputs import SAMPLE_PREFIX, resolve_inputs

    items = resolve_inputs([inputs] if isinstance(inputs, str) else list(inputs))
    return [
        item
        if item.source.startswith(SAMPLE_PREFIX)
        else dataclasses.replace(item, source=str(Path(item.source).absolute()))
        for item in items
    ]


def _run(
    dask: Any, run: Callable[..., Any], model: Any, tasks: list[Any], key: str, progress: Any
) -> list[Path]:
    """Submit one task per shard; report images done as shards finish; return shard paths."""
    from dask.distributed import as_completed

    futures = [
        dask.submit(run, model, part, path, key=f"{key}-{i}", pure=False)
        for i, (part, path) in enumerate(tasks)
    ]
    total = sum(len(part) for part, _ in tasks)
    done = 0
    for future in as_completed(futures):
        done += future.result()[1]
        if progress:
            progress(done, total)
    return [f.result()[0] for f in futures]


def _client(client: Any, workers: int, stack: ExitStack) -> Any:
    from dask.distributed import Client, LocalCluster

    if client is None:
        cluster = stack.enter_context(
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
            )
        )
        stack.callback(_close_workers, cluster)  # after the client, before the cluster
        return stack.enter_context(Client(cluster))
    if isinstance(client, str):
        try:
            return stack.enter_context(Client(client, timeout="30s"))
        except OSError as exc:
            raise InputError(f"cannot be reached ({exc})", param="client", value=client) from None
    return client


def _close_workers(cluster: Any) -> None:
    """Let each worker process exit on its own, with time to spare.

    A worker that imported torch needs more than the 4 s a LocalCluster's nannies grant on
    a busy machine; they would kill it and log "Worker process still alive ... killing".
    """
    import asyncio

    async def close_all() -> None:
        await asyncio.gather(*(n.close(timeout=60) for n in list(cluster.workers.values())))

    cluster.sync(close_all)


def _shards(inputs: list[Any] | Dataset, count: int) -> list[Any]:
    """Contiguous parts of the inputs: Datasets, or lists of image files for ``ImageFiles``."""
    if isinstance(inputs, Dataset):
        from volviz.capture.stream import TorchItems

        return [TorchItems(inputs, r) for r in _ranges(len(inputs), count)]  # type: ignore[arg-type]
    return [inputs[r.start : r.stop] for r in _ranges(len(inputs), count)]


def _ranges(n: int, count: int) -> list[range]:
    count = max(1, min(count, n))
    bounds = [round(i * n / count) for i in range(count + 1)]
    return [range(bounds[i], bounds[i + 1]) for i in range(count)]


def capture_shard(
    model: ModelSpec,
    part: Dataset | list[Any],
    path: Path,
    *,
    options: dict[str, Any],
    top_k: int | None,
    torch_threads: int,
    run_id: str | None = None,
) -> tuple[Path, int]:
    """Task body: capture one shard (skipped when a complete one is there); return its size.

    ``run_id`` names the run in a marker file beside the shard: a retry of this task (its
    worker died) finds its own run there and resumes the shard instead of refusing it.
    """
    import torch

    from volviz.capture.extract import as_loaded, capture
    from volviz.capture.stream import ImageFiles

    n = len(part)  # type: ignore[arg-type]
    marker = path.with_name(f".{path.name}.run")
    if run_id is not None and marker.is_file() and marker.read_text() == run_id:
        options = {**options, "resume": True, "force": False}  # take over our own shard
    elif run_id is not None:
        marker.write_text(run_id)
    if not (options["resume"] and _complete(path, n)):
        torch.set_num_threads(torch_threads)
        loaded = as_loaded(_load(model))
        if isinstance(part, list):  # image files: decoded with the model's own preprocessing
            part = ImageFiles(part, loaded.preprocess.transform())
        capture(loaded, part, path, **options)
    if top_k is not None and not _complete(path, n, aggregated=True):
        from volviz.store.aggregates import aggregate_store

        aggregate_store(path, top_k=top_k, force=True)
    marker.unlink(missing_ok=True)
    return path, n


def _complete(path: Path, n: int, *, aggregated: bool = False) -> bool:
    """Whether ``path`` is a finished shard of ``n`` images (with aggregates, if asked)."""
    from volviz.store import Store

    if not path.is_file():
        return False
    with Store(path) as store:
        return store.n_images == n and (not aggregated or "aggregates" in store.file)


def _load(model: ModelSpec) -> LoadedModel | nn.Module:
    if isinstance(model, LoadedModel | nn.Module):
        return model
    if isinstance(model, str):
        from volviz.capture.models import load_model

        return load_model(model, device="cpu")
    return model()


def model_factory(name: str, **kwargs: Any) -> Callable[[], LoadedModel]:
    """A picklable callable loading ``name`` on a worker (``load_model(name, **kwargs)``)."""
    from volviz.capture.models import load_model

    return partial(load_model, name, **kwargs)
