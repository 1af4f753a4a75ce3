"""A small CNN on scikit-learn's bundled digits: offline, trains in seconds on a CPU.

Used by the training-dynamics example (scripts/track_digits.py), its benchmark and tests.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

TRAIN_SIZE = 1437  # of 1,797 digits; the rest is the test split


def digits_data(
    *, size: int = 8, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train and test splits: images (N, 1, size, size) in 0..1 and labels (N,).

    ``size`` other than 8 resamples the 8x8 digits bilinearly.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32)[:, None] / 16.0
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    y = torch.tensor(data.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    train, test = perm[:TRAIN_SIZE], perm[TRAIN_SIZE:]
    return x[train], y[train], x[test], y[test]


def digits_cnn(*, size: int = 8, seed: int = 0) -> nn.Sequential:
    """conv(1->16) ReLU pool, conv(16->32) ReLU [pool], linear -> 10 classes; seeded.

    One pooling per halving from ``size`` down to 4x4 (8 -> one, 16 -> two).
    """
    torch.manual_seed(seed)
    pools = {8: 1, 16: 2}.get(size)
    if pools is None:
        msg = f"size={size} must be 8 or 16"
        raise ValueError(msg)
    layers: list[nn.Module] = [
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(inplace=True),
    ]
    if pools == 2:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def probe_set(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The first image of each digit 0..9, in digit order: (10, 1, H, W)."""
    return torch.stack([x[int(torch.nonzero(y == d)[0])] for d in range(10)])
