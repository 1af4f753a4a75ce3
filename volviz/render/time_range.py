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

import bisect
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
            msg = f"is not one of {', '.join(NORMALIZATIONS)}"
            raise VolvizError(msg, param="normalization", value=method)
        self.method, self.tail = method, tail
        self.count = 0  # finite values seen
        self.records = 0
        self.low = Tail(tail)  # the `tail` smallest values
        self.high = Tail(tail)  # the `tail` largest (of |values|: symmetric), negated
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
            self.low.add(values)
        self.high.add(-values)

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
            return float(self.low.rank(0)), float(-self.high.rank(0))
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
        if q < 0.5:  # ascending ranks `below`, `above`: in the low tail
            a, b = self.low.rank(below), self.low.rank(above)
        else:  # the same ranks counted from the top: in the (negated) high tail
            a, b = -self.high.rank(n - 1 - below), -self.high.rank(n - 1 - above)
        return float(a + (b - a) * gamma)  # equal to np.percentile up to rounding


class Tail:
    """The ``size`` smallest of all values added, and their order statistics.

    New candidates wait in a small sorted ``pending`` array that is merged into the sorted
    ``main`` one only when it has grown (or while ``main`` is not full yet), so a record
    costs about its own candidates, not a copy of the whole tail.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.main = np.empty(0, np.float32)
        self.pending = np.empty(0, np.float32)

    def add(self, values: np.ndarray) -> None:
        if len(self.main) >= self.size:  # only values below the kept ones can enter
            values = values[values < self.main[-1]]
        if values.size == 0:
            return
        values = np.sort(values)
        self.pending = np.insert(self.pending, np.searchsorted(self.pending, values), values)
        if len(self.main) < self.size or len(self.pending) > max(1024, self.size // 16):
            at = np.searchsorted(self.main, self.pending)
            self.main = np.insert(self.main, at, self.pending)[: self.size]
            self.pending = self.pending[:0]

    def rank(self, r: int) -> float:
        """The value of ascending rank ``r`` (0 = the smallest), for ``r < size``."""
        a, b = self.main, self.pending
        if len(b) == 0:
            return float(a[r])

        def at(j: int) -> int:  # merged position of b[j] (equal values of `a` first)
            return int(np.searchsorted(a, b[j], side="right")) + j

        k = bisect.bisect_right(range(len(b)), r, key=at)  # b's among the first r + 1
        return float(b[k - 1] if k and at(k - 1) == r else a[r - k])


def _virtual(n: int, q: float) -> float:
    """numpy's virtual index of the q-quantile of n values (its default, linear method)."""
    return n * q + (1 + q * (1 - 1 - 1)) - 1


def _needed(n: int, q: float, top: bool) -> int:
    """How many values from one end the q-quantile of n values depends on."""
    below = int(np.floor(_virtual(n, q)))
    return n - below if top else below + 2


def tail_for(count: int) -> int:
    """Tail length to rebuild with: twice what ``count`` values need (at least MIN_TAIL)."""
    return max(MIN_TAIL, 2 * max(_needed(count, LOW_Q, False), _needed(count, HIGH_Q, True)))
