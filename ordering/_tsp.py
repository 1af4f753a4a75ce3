"""Path-minimizing seriation: greedy-edge construction, then 2-opt / or-opt local search.

The open path over ``n`` items is handled as a closed tour over ``n + 1`` nodes, the extra
"dummy" node being at distance 0 from every item and pinned at tour position 0; cutting the tour
at the dummy gives the path. Every move is evaluated against all other tour edges at once with
numpy (one row gather per candidate), and nodes are processed from a FIFO queue with don't-look
bits: a node is re-examined only after one of its tour edges changed. Optional seeded
"segment-swap" kicks (iterated local search) polish the result further. Everything is
deterministic: ties go to the lowest tour position.
"""

from __future__ import annotations

from collections import deque

import numpy as np

_EPS = 1e-10


def greedy_edge_path(dist: np.ndarray) -> np.ndarray:
    """Build a Hamiltonian path by the greedy-edge heuristic.

    Edges are taken shortest first (stable on ties) whenever both ends still have degree < 2
    and the edge closes no cycle.

    Parameters
    ----------
    dist : ndarray of shape (n, n)
        Symmetric distance matrix.

    Returns
    -------
    order : ndarray of shape (n,), int64
    """
    n = dist.shape[0]
    if n <= 2:
        return np.arange(n, dtype=np.int64)
    rows, cols = np.triu_indices(n, 1)
    by_length = np.argsort(dist[rows, cols], kind="stable")
    degree = [0] * n
    parent = list(range(n))
    adjacent: list[list[int]] = [[] for _ in range(n)]

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    added = 0
    for u, v in zip(rows[by_length].tolist(), cols[by_length].tolist(), strict=True):
        if degree[u] == 2 or degree[v] == 2:
            continue
        ru, rv = root(u), root(v)
        if ru == rv:
            continue
        parent[ru] = rv
        degree[u] += 1
        degree[v] += 1
        adjacent[u].append(v)
        adjacent[v].append(u)
        added += 1
        if added == n - 1:
            break
    return _walk(adjacent, degree.index(1))


def _walk(adjacent: list[list[int]], start: int) -> np.ndarray:
    order = [start]
    previous, current = -1, start
    for _ in range(len(adjacent) - 1):
        nxt = adjacent[current][0] if adjacent[current][0] != previous else adjacent[current][1]
        previous, current = current, nxt
        order.append(current)
    return np.asarray(order, dtype=np.int64)


class _Tour:
    """Closed tour over items + dummy (index n, pinned at position 0) with cached edge data."""

    def __init__(self, dist: np.ndarray, order: np.ndarray) -> None:
        n = dist.shape[0]
        self.dist = np.zeros((n + 1, n + 1), dtype=np.float64)
        self.dist[:n, :n] = dist
        self.m = n + 1
        self.set(np.concatenate([[n], np.asarray(order, dtype=np.int64)]))

    def set(self, tour: np.ndarray) -> None:
        self.t = tour
        self.nxt = np.roll(tour, -1)
        self.d = self.dist[tour, self.nxt]
        self.pos = np.empty(self.m, dtype=np.int64)
        self.pos[tour] = np.arange(self.m)

    def length(self) -> float:
        return float(self.d.sum())

    def path(self) -> np.ndarray:
        return self.t[1:].copy()

    def best_two_opt(self, edges: np.ndarray) -> tuple[float, int, int]:
        """Best 2-opt move removing one of ``edges`` (tour edge k joins positions k, k + 1)."""
        t, nxt = self.t, self.nxt
        gain = (
            self.d[edges, None]
            + self.d[None, :]
            - self.dist[t[edges, None], t]
            - self.dist[nxt[edges, None], nxt]
        )
        gain[np.arange(edges.size), edges] = -np.inf
        flat = int(np.argmax(gain))
        row, q = divmod(flat, self.m)
        return float(gain[row, q]), int(edges[row]), q

    def apply_two_opt(self, k: int, q: int) -> list[int]:
        lo, hi = min(k, q), max(k, q)
        touched = [self.t[lo], self.nxt[lo], self.t[hi], self.nxt[hi]]
        tour = self.t.copy()
        tour[lo + 1 : hi + 1] = tour[lo + 1 : hi + 1][::-1]
        self.set(tour)
        return [int(x) for x in touched]

    def best_or_opt(self, starts: np.ndarray, ends: np.ndarray) -> tuple[float, int, bool]:
        """Best reinsertion of one segment (positions starts[i]..ends[i]) after tour edge q.

        Returns the gain, the segment index ``i`` and edge ``q`` packed as ``i * m + q``, and
        whether the segment is reversed.
        """
        t, nxt, dist, d = self.t, self.nxt, self.dist, self.d
        first, last = t[starts], t[ends]
        before, after = t[starts - 1], nxt[ends]
        removal = dist[before, first] + dist[last, after] - dist[before, after]
        first_row, last_row = first[:, None], last[:, None]
        forward = dist[first_row, t] + dist[last_row, nxt] - d
        backward = dist[last_row, t] + dist[first_row, nxt] - d
        edge = np.arange(self.m)
        inside = (edge >= starts[:, None] - 1) & (edge <= ends[:, None])
        forward[inside] = np.inf
        backward[inside] = np.inf
        cost = np.concatenate([forward, backward], axis=1)
        flat = int(np.argmin(cost))
        row, column = divmod(flat, 2 * self.m)
        reverse = column >= self.m
        return float(removal[row] - cost[row, column]), row * self.m + column % self.m, reverse

    def apply_or_opt(self, s: int, e: int, q: int, reverse: bool) -> list[int]:
        t = self.t
        touched = [t[s - 1], t[s], t[e], self.nxt[e], t[q], self.nxt[q]]
        segment = t[s : e + 1][::-1] if reverse else t[s : e + 1]
        if q < s:
            tour = np.concatenate([t[: q + 1], segment, t[q + 1 : s], t[e + 1 :]])
        else:
            tour = np.concatenate([t[:s], t[e + 1 : q + 1], segment, t[q + 1 :]])
        self.set(tour)
        return [int(x) for x in touched]


def _segments(p: int, m: int, max_segment: int) -> tuple[np.ndarray, np.ndarray]:
    """Segments of 1..max_segment positions that start or end at position p (never the
    dummy at 0, never all but two nodes)."""
    starts, ends = [], []
    for length in range(1, max_segment + 1):
        for s in sorted({p, p - length + 1}):
            e = s + length - 1
            if s >= 1 and e <= m - 1 and length < m - 2:
                starts.append(s)
                ends.append(e)
    return np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)


def _improve_node(tour: _Tour, node: int, max_segment: int) -> list[int] | None:
    """Apply the best improving move around ``node``; return the touched nodes, or None."""
    p = int(tour.pos[node])
    gain2, k, q = tour.best_two_opt(np.array([p, (p - 1) % tour.m]))
    gain3 = -np.inf
    if p > 0:
        starts, ends = _segments(p, tour.m, max_segment)
        if starts.size:
            gain3, packed, reverse = tour.best_or_opt(starts, ends)
    if max(gain2, gain3) <= _EPS:
        return None
    if gain2 >= gain3:
        return tour.apply_two_opt(k, q)
    row, q = divmod(packed, tour.m)
    return tour.apply_or_opt(int(starts[row]), int(ends[row]), q, reverse)


def _descend(tour: _Tour, queue_nodes: list[int], max_segment: int) -> None:
    queue = deque(queue_nodes)
    active = set(queue_nodes)
    while queue:
        node = queue.popleft()
        active.discard(node)
        touched = _improve_node(tour, node, max_segment)
        if touched is None:
            continue
        for other in [node, *touched]:
            if other not in active:
                active.add(other)
                queue.append(other)


def local_search(
    dist: np.ndarray,
    order: np.ndarray,
    *,
    max_segment: int = 3,
    n_kicks: int = 0,
    random_state: int | None = 0,
) -> np.ndarray:
    """Shorten an open path with 2-opt and or-opt moves, then optional seeded kicks.

    Parameters
    ----------
    dist : ndarray of shape (n, n)
        Symmetric distance matrix.
    order : ndarray of shape (n,)
        Starting permutation.
    max_segment : int, default=3
        Longest segment that or-opt moves.
    n_kicks : int, default=0
        Segment-swap perturbations (iterated local search): each swaps two random adjacent
        segments (a "double bridge" on the path), repairs the path with local search around
        the 6 changed edges, and is kept only if the path got shorter.
    random_state : int or None, default=0
        Seed for the kicks.

    Returns
    -------
    order : ndarray of shape (n,), int64
        A 2-opt / or-opt local optimum no longer than ``order``.
    """
    n = dist.shape[0]
    if n <= 3:
        return _brute_force(dist) if n > 1 else np.arange(n, dtype=np.int64)
    tour = _Tour(dist, order)
    _descend(tour, [int(x) for x in tour.t], max_segment)
    _kick(tour, n_kicks, random_state, max_segment)
    return tour.path()


def _kick(tour: _Tour, n_kicks: int, random_state: int | None, max_segment: int) -> None:
    if tour.m < 9:
        return
    rng = np.random.default_rng(random_state)
    for _ in range(n_kicks):
        saved, saved_length = tour.t.copy(), tour.length()
        a, b, c = np.sort(rng.choice(np.arange(2, tour.m), size=3, replace=False))
        t = tour.t
        touched = [int(x) for x in t[[a - 1, a, b - 1, b, c - 1, c % tour.m]]]
        tour.set(np.concatenate([t[:a], t[b:c], t[a:b], t[c:]]))
        _descend(tour, touched, max_segment)
        if tour.length() >= saved_length - _EPS:
            tour.set(saved)


def _brute_force(dist: np.ndarray) -> np.ndarray:
    from itertools import permutations

    n = dist.shape[0]
    best, best_length = None, np.inf
    for perm in permutations(range(n)):
        if perm[0] > perm[-1]:
            continue
        length = sum(dist[perm[i], perm[i + 1]] for i in range(n - 1))
        if length < best_length - _EPS:
            best, best_length = perm, length
    return np.asarray(best, dtype=np.int64)
