"""One display range over a growing run's records, updated from the new records only.

``RunningRange`` gives the same (lo, hi) as ``volviz.render.timeline.fixed_range`` over
every record added so far, for each normalization, while keeping only what the range
depends on: running minima and maxima, and for the percentile methods the lowest and
highest values (the 1st and 99.5th percentiles of N values are order statistics within
about 1% and 0.5% of N from either end). Following a live run then costs the same per
new record however long the run is; when the kept tails become too short for the grown
count, the caller rebuilds from all records (``needs_rebuild``), about once per doubling.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from volviz.errors import VolvizError
from volviz.store.views import NORMALIZATIONS

LOW_Q, HIGH_Q = 0.01, 0.995  # the percentiles of display_range ("percentile", "symmetric")
MIN_TAIL = 4096


class RunningRange:
    """Display range of ``method`` over all records (T, C, H, W) given to ``add``."""

    def __init__(self, method: str, *, tail: int = MIN_TAIL) -> None:
        if method not in NORMALIZATIONS:
            msg = f"--normalize {method!r} is not one of {', '.join(NORMALIZATIONS)}"
            raise VolvizError(msg)
        self.method, self.tail = method, tail
        self.count = 0  # finite values seen
        self.records = 0
        self.low = np.empty(0, np.float32)  # the `tail` smallest values, sorted
        self.high = np.empty(0, np.float32)  # the `tail` largest (of |values|: symmetric), sorted
        self.channel_lo: np.ndarray | None = None
        self.channel_hi: np.ndarray | None = None

    def add(self, volumes: np.ndarray) -> None:
        """Fold records (T, C, H, W) in; NaN and inf are ignored, as in ``fixed_range``."""
        v = np.asarray(volumes, dtype=np.float32)
        self.records += v.shape[0]
        if self.method == "channel":
            by_channel = np.where(np.isfinite(v), v, np.nan).swapaxes(0, 1).reshape(v.shape[1], -1)
            lo, hi = np.fmin.reduce(by_channel, axis=1), np.fmax.reduce(by_channel, axis=1)
            self.channel_lo = lo if self.channel_lo is None else np.fmin(self.channel_lo, lo)
            self.channel_hi = hi if self.channel_hi is None else np.fmax(self.channel_hi, hi)
        values = v[np.isfinite(v)]
        self.count += values.size
        if self.method == "symmetric":
            values = np.abs(values)
        elif self.method in ("channel", "minmax") and values.size:  # the extremes suffice
            values = np.array([values.min(), values.max()])
        if self.method != "symmetric":
            self.low = _merge(self.low, values, self.tail, keep_low=True)
        self.high = _merge(self.high, values, self.tail, keep_low=False)

    @property
    def needs_rebuild(self) -> bool:
        """True when the kept tails are too short for the current count."""
        if self.method in ("channel", "minmax") or self.count <= self.tail:
            return False
        low = _needed(self.count, LOW_Q, False) if self.method == "percentile" else 0
        return max(low, _needed(self.count, HIGH_Q, True)) > self.tail

    def limits(self) -> tuple[Any, Any]:
        """(lo, hi) as ``fixed_range`` gives over the same records."""
        if self.count == 0:
            return 0.0, 1.0
        if self.method == "channel":
            assert self.channel_lo is not None and self.channel_hi is not None
            return (
                np.nan_to_num(self.channel_lo)[:, None, None],
                np.nan_to_num(self.channel_hi)[:, None, None],
            )
        if self.method == "minmax":
            return float(self.low.min()), float(self.high.max())
        if self.needs_rebuild:
            msg = "the kept tails are too short: rebuild from all records"
            raise RuntimeError(msg)
        hi = self._quantile(HIGH_Q)
        if self.method == "symmetric":
            return -hi, hi
        return self._quantile(LOW_Q), hi

    def _quantile(self, q: float) -> float:
        """The q-quantile of all values (numpy's default, linear method), from the tails."""
        n = self.count
        virtual = _virtual(n, q)
        below = int(np.clip(np.floor(virtual), 0, n - 1))
        above = min(below + 1, n - 1)
        gamma = virtual - np.floor(virtual)
        if q < 0.5:  # ascending ranks `below`, `above` sit in the low tail
            ranks, kept = [below, above], self.low
        else:  # the high tail holds the top len(high) of n values, ascending ranks shifted
            kept = self.high
            ranks = [below - (n - len(kept)), above - (n - len(kept))]
        a, b = kept[ranks].astype(np.float64)
        return float(a + (b - a) * gamma)  # equal to np.percentile up to rounding


def _virtual(n: int, q: float) -> float:
    """numpy's virtual index of the q-quantile of n values (its default, linear method)."""
    return n * q + (1 + q * (1 - 1 - 1)) - 1


def _needed(n: int, q: float, top: bool) -> int:
    """How many values from one end the q-quantile of n values depends on."""
    below = int(np.floor(_virtual(n, q)))
    return n - below if top else below + 2


def _merge(kept: np.ndarray, values: np.ndarray, tail: int, *, keep_low: bool) -> np.ndarray:
    """The ``tail`` lowest (or highest) of sorted ``kept`` and ``values``, sorted ascending.

    Only values that can enter are sorted and inserted: a poll costs a copy of the tail.
    """
    if len(kept) >= tail:
        values = values[values < kept[-1]] if keep_low else values[values > kept[0]]
    if values.size == 0:
        return kept
    values = np.sort(values)
    merged = np.insert(kept, np.searchsorted(kept, values), values)
    return merged[:tail] if keep_low else merged[-tail:]


def tail_for(count: int) -> int:
    """Tail length to rebuild with: twice what ``count`` values need (at least MIN_TAIL)."""
    return max(MIN_TAIL, 2 * max(_needed(count, LOW_Q, False), _needed(count, HIGH_Q, True)))
