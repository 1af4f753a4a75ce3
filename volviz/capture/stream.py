"""Stream a dataset through a model in batches: image files, torch Datasets and DataLoaders.

Every source is turned into batches of ``(records, x)``: one record (``source``, ``name``,
``label``, ``sha256``) per image and an (B, C, H, W) tensor. Only a few batches exist at any
time, so memory does not grow with the number of images. On resume, inputs whose content
hash is already stored are skipped (counted: an image given twice is captured twice).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from volviz.capture.inputs import InputImage, resolve_inputs
from volviz.capture.models import Preprocess
from volviz.errors import InputError

Record = dict[str, str]
Batch = tuple[list[Record], torch.Tensor]
Source = Sequence[str] | torch.Tensor | Dataset | DataLoader


def tensor_sha256(x: torch.Tensor) -> str:
    """SHA-256 of a tensor's values as contiguous float32 bytes (its content hash)."""
    values = x.detach().cpu().float().contiguous().numpy()
    return hashlib.sha256(values.data).hexdigest()  # the array's own bytes, not a copy


class ImageFiles(Dataset):
    """Image files/samples as a torch Dataset of ``(tensor (3, H, W), record)``."""

    def __init__(self, items: Sequence[InputImage], transform: Callable[[Any], torch.Tensor]):
        self.items = list(items)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def record(self, index: int) -> Record:
        item = self.items[index]
        return {"source": item.source, "name": item.name, "label": item.label, "sha256": ""}

    def sha256(self, index: int) -> str:
        return self.items[index].sha256()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Record]:
        record = self.record(index)
        record["sha256"] = self.sha256(index)
        return self.transform(self.items[index].load()), record


class TensorRows(Dataset):
    """The rows of an already preprocessed (N, C, H, W) tensor, with records."""

    def __init__(self, x: torch.Tensor) -> None:
        if x.ndim != 4:
            msg = f"inputs tensor has shape {tuple(x.shape)}, expected (N, C, H, W)"
            raise InputError(msg)
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def sha256(self, index: int) -> str:
        return tensor_sha256(self.x[index])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Record]:
        record = {"source": "tensor", "name": f"tensor[{index}]", "label": ""}
        return self.x[index].float(), {**record, "sha256": self.sha256(index)}


class TorchItems(Dataset):
    """Any map-style torch Dataset whose items are ``x`` or ``(x, y, ...)``, with records.

    ``label`` is ``dataset.classes[y]`` when the dataset names its classes, else ``str(y)``;
    ``source``/``name`` are the file path/stem for ``DatasetFolder``-like datasets
    (``samples``), else ``dataset:CLASS`` and the index; ``sha256`` hashes the tensor.
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int] | None = None) -> None:
        self.dataset = dataset
        self.indices = range(len(dataset)) if indices is None else indices  # type: ignore[arg-type]
        self.classes = list(getattr(dataset, "classes", []) or [])
        self.samples = getattr(dataset, "samples", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, Record]:
        index = self.indices[position]
        x, y = split_item(self.dataset[index])
        if self.samples is not None:
            path = str(self.samples[index][0])
            source, name = path, path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        else:
            source, name = f"dataset:{type(self.dataset).__name__}", str(index)
        record = {"source": source, "name": name, "label": self.label(y)}
        record["sha256"] = tensor_sha256(x)
        return x, record

    def sha256(self, index: int) -> str:
        return self[index][1]["sha256"]

    def label(self, y: Any) -> str:
        if y is None:
            return ""
        value = y.item() if isinstance(y, torch.Tensor) and y.numel() == 1 else y
        if isinstance(value, int) and 0 <= value < len(self.classes):
            return str(self.classes[value])
        return str(value)


def split_item(item: Any) -> tuple[torch.Tensor, Any]:
    """``(x, label or None)`` of a dataset item that is ``x`` or ``(x, y, ...)``."""
    if isinstance(item, tuple | list):
        x, y = item[0], (item[1] if len(item) > 1 else None)
    else:
        x, y = item, None
    if not isinstance(x, torch.Tensor):
        msg = f"dataset item is a {type(x).__name__}, expected a tensor (add a ToTensor transform)"
        raise InputError(msg)
    return x, y


def collate(items: Sequence[tuple[torch.Tensor, Record]]) -> Batch:
    """Stack tensors, keep records as a list (module level so DataLoader workers can pickle)."""
    return [r for _, r in items], torch.stack([x for x, _ in items])


def source_dataset(
    inputs: Sequence[str] | torch.Tensor | Dataset, preprocess: Preprocess
) -> Dataset:
    """A Dataset of ``(x, record)`` for image specs (files, folders, globs, samples), a
    preprocessed (N, C, H, W) tensor, or a torch Dataset."""
    if isinstance(inputs, torch.Tensor):
        return TensorRows(inputs)
    if isinstance(inputs, ImageFiles | TensorRows | TorchItems):
        return inputs
    if isinstance(inputs, Dataset):
        return TorchItems(inputs)
    if isinstance(inputs, str):
        inputs = [inputs]
    return ImageFiles(resolve_inputs(list(inputs)), preprocess.transform())


def pending(dataset: Dataset, skip: Counter[str] | None) -> list[int]:
    """Indices still to capture: inputs are hashed in order until every stored hash is met.

    When the stored rows are a prefix of the inputs (an interrupted run over the same inputs),
    only that prefix is hashed; nothing is decoded or run through the model.
    """
    n = len(dataset)  # type: ignore[arg-type]
    left = Counter({k: v for k, v in (skip or Counter()).items() if v > 0})
    todo: list[int] = []
    hasher: Callable[[int], str] = dataset.sha256  # type: ignore[attr-defined]
    for i in range(n):
        if not left:
            todo.extend(range(i, n))
            break
        digest = hasher(i)
        if left[digest] > 0:
            left[digest] -= 1
            if not left[digest]:
                del left[digest]
        else:
            todo.append(i)
    return todo


def dataset_batches(
    dataset: Dataset,
    indices: Sequence[int],
    batch_size: int,
    *,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[Batch]:
    """Batches of ``dataset[indices]`` in order.

    With ``num_workers == 0`` the next batch is prepared on a thread while the model runs
    (decoding and hashing release the GIL); otherwise a DataLoader with worker processes.
    """
    if num_workers < 0:
        raise InputError("must be 0 or more", param="num_workers", value=num_workers)
    if num_workers == 0 and not pin_memory:
        starts = range(0, len(indices), batch_size)
        yield from prefetch(
            starts, lambda s: collate([dataset[i] for i in indices[s : s + batch_size]])
        )
        return
    loader = DataLoader(
        Subset(dataset, list(indices)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
    )
    yield from loader


def loader_batches(loader: DataLoader, skip: Counter[str] | None) -> Iterator[Batch]:
    """Batches of a user's DataLoader (items ``x`` or ``(x, y)``), minus already stored inputs."""
    left = Counter(skip or Counter())
    classes = TorchItems(loader.dataset)
    position = 0
    for batch in loader:
        x, y = split_item(batch)
        labels: list[Any] = list(y) if y is not None else [None] * len(x)
        records = []
        keep = []
        for i in range(len(x)):
            digest = tensor_sha256(x[i])
            name = str(position + i)
            record = {"source": "dataloader", "name": name, "label": classes.label(labels[i])}
            if left[digest] > 0:
                left[digest] -= 1
                continue
            keep.append(i)
            records.append({**record, "sha256": digest})
        position += len(x)
        if keep:
            yield records, x[keep] if len(keep) < len(x) else x


def prefetch(starts: Iterable[int], prepare: Callable[[int], Batch]) -> Iterator[Batch]:
    """Yield ``prepare(s)`` for each start, preparing the next batch on a thread meanwhile."""
    order = list(starts)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(prepare, order[0]) if order else None
        for k in range(len(order)):
            if future is None:
                break
            ready = future.result()
            future = pool.submit(prepare, order[k + 1]) if k + 1 < len(order) else None
            yield ready
