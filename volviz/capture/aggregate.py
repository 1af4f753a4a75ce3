"""Per-class statistics of weight gradients over a whole dataset, streamed batch by batch.

Each batch's per-image weight gradients (``volviz.capture.gradients.weight_gradients``) are
folded into float64 accumulators (``ClassStats``) grouped by the images' labels, then
dropped: memory holds one batch of gradients plus one mean and one M2 per label, whatever
the number of images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn
from torch.utils.data import DataLoader, Dataset

from volviz.capture.extract import as_loaded
from volviz.capture.models import LoadedModel
from volviz.capture.stream import dataset_batches, loader_batches, source_dataset
from volviz.store.aggregates import ClassStats

Progress = Callable[[int, int], None]


def gradient_stats(
    model: LoadedModel | nn.Module,
    inputs: Sequence[str] | Dataset | DataLoader,
    layers: Sequence[str],
    *,
    target: str | int | None = "pred",
    score: str = "log_softmax",
    batch_size: int = 16,
    num_workers: int = 0,
    strategy: str = "auto",
    progress: Progress | None = None,
) -> dict[str, ClassStats]:
    """Per-label mean and variance of each image's weight gradient of ``target``'s score.

    Parameters
    ----------
    model : LoadedModel or nn.Module
    inputs : sequence of str, Dataset or DataLoader
        As for ``capture``; images are grouped by their label (folder name, dataset class).
    layers : sequence of str
        Layers with weights (dotted names, patterns, ``conv``).
    target : str, int or None
        ``pred`` (each image's predicted class), a class index, name, or set (see
        ``volviz.capture.targets.parse_target``).
    strategy : {"auto", "loop", "batched", "vmap"}
        How per-image gradients are computed (same numbers; see ``weight_gradients``).

    Returns
    -------
    dict of str to ClassStats
        Per layer, statistics of arrays of the weight's shape (O, I, kh, kw).
    """
    from volviz.capture.gradients import weight_gradients
    from volviz.capture.targets import parse_target

    loaded = as_loaded(model)
    goal = parse_target(target, loaded.class_names, score=score)
    stats: dict[str, ClassStats] = {}
    done = 0
    for records, x in _batches(loaded, inputs, batch_size, num_workers):
        result = weight_gradients(
            loaded.module, x.to(loaded.device), layers, goal, strategy=strategy
        )
        assert result.per_image is not None
        labels = [r["label"] for r in records]
        for key, grads in result.per_image.items():
            stats.setdefault(key, ClassStats(tuple(grads.shape[1:]))).update(grads, labels)
        done += len(records)
        if progress:
            progress(done, done)
    return stats


def _batches(loaded: LoadedModel, inputs: Any, batch_size: int, num_workers: int) -> Any:
    if isinstance(inputs, DataLoader):
        return loader_batches(inputs, None)
    dataset = source_dataset(inputs, loaded.preprocess)
    indices = range(len(dataset))  # type: ignore[arg-type]
    return dataset_batches(dataset, indices, batch_size, num_workers=num_workers)
