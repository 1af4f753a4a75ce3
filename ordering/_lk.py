"""Lin-Kernighan-style iterated local search for the shortest Hamiltonian path.

The open path over ``n`` items is a closed tour over ``n + 1`` nodes, the extra node being at
distance 0 from every item (cutting the tour there gives the path). The tour is an array with
a position index; a 2-opt move reverses the shorter side. The local search looks for
sequential moves in the manner of Lin and Kernighan, to depth 3: remove a tour edge (t1, t2),
add (t2, t3) to one of t2's candidate partners while the running gain stays positive, remove
(t3, t4), then either close with (t4, t1) (2-opt) or add (t4, t5) and remove (t5, t6) and close
with (t6, t1) (the 3-opt cases, or-opt moves among them). Moves are evaluated from positions
alone and only an improving one is made (first improvement). Nodes are processed from a
queue with don't-look bits. With ``alpha_steps`` the candidates are, after the first local
optimum, the alpha-nearest partners of :mod:`ordering._alpha` (5 of them do better than 8
nearest, at about half the cost per kick), and the search descends from a second start, the
greedy path under the ascent's transformed distances, keeping the shorter local optimum (on
real layers this start leaves a third less of the final gap to the Held-Karp bound than the
plain greedy path, for the same kicks). Kicks are double bridges whose three cut points
are ends of short random walks on the candidate graph, so the new edges are short and the
repair stays local; a kick is undone if the tour got longer. A double bridge on the tour is a
3-opt move without reversal, one the search itself makes, and 3 kicks in 4 are repaired back
to the same length: the repair stops there instead of re-searching the queued nodes.

Pure Python on lists (Python's own ints and floats index faster than numpy scalars); the
random numbers come from ``random.Random(seed)``, so a seed gives one result. Speed: about
0.05-0.35 ms per kick (100-1,300 items) on one core of the 2-core VM, so ``n_kicks`` and the
``patience`` restarts set the time. An or-opt pass (every segment of 1-3 items moved, either
way round, to every gap of the path) finds nothing left to gain on the results: the moves
are in the search already.
"""

from __future__ import annotations

import random
from collections import deque
from itertools import pairwise

import numpy as np

from ordering._alpha import alpha_lists, ascent, neighbour_lists
from ordering._tsp import greedy_edge_path

_EPS = 1e-9


class _Tour:
    """Array tour over items + the zero-distance node, with neighbour lists."""

    def __init__(self, dist: np.ndarray, order: np.ndarray, neighbours: int) -> None:
        n = dist.shape[0]
        m = n + 1
        full = np.zeros((m, m), dtype=np.float64)
        full[:n, :n] = dist
        self.d: list[list[float]] = full.tolist()
        self.m = m
        self.t: list[int] = [n, *np.asarray(order, dtype=np.int64).tolist()]
        self.pos: list[int] = [0] * m
        for i, node in enumerate(self.t):
            self.pos[node] = i
        self.near = neighbour_lists(dist, min(neighbours, n - 1))
        self.length = float(sum(self.d[a][b] for a, b in zip(self.t, self.t[1:], strict=False)))

    def set_path(self, order: list[int]) -> None:
        """Make the tour the path ``order`` (all items) closed by the zero-distance node."""
        t = [self.m - 1, *order]
        self.set(t, float(sum(self.d[a][b] for a, b in pairwise(t))))

    def set(self, t: list[int], length: float) -> None:
        """Make the tour ``t`` (all nodes), whose length is ``length``."""
        self.t[:] = t
        for i, node in enumerate(t):
            self.pos[node] = i
        self.length = length

    def path(self) -> np.ndarray:
        i = self.pos[self.m - 1]
        return np.asarray(self.t[i + 1 :] + self.t[:i], dtype=np.int64)

    def reverse(self, i: int, j: int) -> None:
        """Reverse the cyclic stretch of positions i..j (or its complement, if shorter)."""
        t, pos, m = self.t, self.pos, self.m
        length = (j - i) % m + 1
        if 2 * length > m:
            i, j, length = (j + 1) % m, (i - 1) % m, m - length
        if i <= j:
            seg = t[i : j + 1]
            seg.reverse()
            t[i : j + 1] = seg
            for k, node in enumerate(seg, i):
                pos[node] = k
            return
        for _ in range(length // 2):
            a, b = t[i], t[j]
            t[i], t[j], pos[a], pos[b] = b, a, j, i
            i = i + 1 if i + 1 < m else 0
            j = j - 1 if j > 0 else m - 1

    def swap(self, a: int, b: int, c: int, d: int) -> None:
        """Replace tour edges {a, b} and {c, d} (b follows a as d follows c, in either
        direction) by {a, c} and {b, d}."""
        pos = self.pos
        if self.t[(pos[a] + 1) % self.m] == b:
            self.reverse(pos[b], pos[c])
        else:
            self.reverse(pos[a], pos[d])

    def double_bridge(self, p1: int, p2: int, p3: int) -> list[int]:
        """Swap the segments after positions ``p1 < p2 < p3`` (a 3-opt move without
        reversal); return the six nodes at its new and old edges."""
        t, pos, d, m = self.t, self.pos, self.d, self.m
        i, j, k = p1 + 1, p2 + 1, p3 + 1
        before, after = t[p1], t[k % m]
        self.length += (
            d[before][t[j]] + d[t[k - 1]][t[i]] + d[t[j - 1]][after]
            - d[before][t[i]] - d[t[j - 1]][t[j]] - d[t[k - 1]][after]
        )  # fmt: skip
        touched = [before, t[i], t[j - 1], t[j], t[k - 1], after]
        seg = t[j:k] + t[i:j]
        t[i:k] = seg
        for q, node in enumerate(seg, i):
            pos[node] = q
        return touched


class _Search:
    """Sequential 2-opt and 3-opt moves (LK depth 3) found by neighbour lists, no trial moves."""

    def __init__(self, tour: _Tour) -> None:
        self.tour = tour
        self.cand: list[list[tuple[int, float]]] = []
        self.set_candidates(tour.near)

    def set_candidates(self, near: list[list[int]]) -> None:
        """Make ``near`` the candidate partners (``cand`` holds them with their distances)."""
        d = self.tour.d
        self.tour.near = near
        self.cand = [[(j, d[i][j]) for j in row] for i, row in enumerate(near)]

    def improve(self, t1: int) -> list[int] | None:
        """Apply the first improving move that removes a tour edge at ``t1``; return the
        touched nodes, or None."""
        for direction in (1, -1):
            move = self._find(t1, direction)
            if move is not None:
                return self._apply(*move)
        return None

    def _find(self, t1: int, dr: int) -> tuple[int, ...] | None:
        """First improving move with t2 = the next node after t1 in direction ``dr``."""
        tour = self.tour
        t, pos, m, d = tour.t, tour.pos, tour.m, tour.d
        p1 = pos[t1]
        t2 = t[(p1 + dr) % m]
        g0 = d[t1][t2]
        p2 = pos[t2]
        for t3, d23 in self.cand[t2]:
            g1 = g0 - d23
            if g1 <= _EPS:
                break
            p3 = pos[t3]
            if t3 == t1 or (p3 - p2) * dr % m in (1, m - 1):
                continue
            for x4 in (1, 2):
                t4 = t[(p3 - dr) % m] if x4 == 1 else t[(p3 + dr) % m]
                if t4 in (t1, t2):
                    continue
                g2 = g1 + d[t3][t4]
                if x4 == 1 and g2 - d[t4][t1] > _EPS:
                    return (0, t1, t2, t3, t4, g2 - d[t4][t1])
                move = self._third(t1, t2, t3, t4, g2, x4, dr)
                if move is not None:
                    return move
        return None

    def _third(
        self, t1: int, t2: int, t3: int, t4: int, g2: float, x4: int, dr: int
    ) -> tuple[int, ...] | None:
        """First improving 3-opt move that adds (t4, t5) and removes (t5, t6)."""
        tour = self.tour
        t, pos, m, d = tour.t, tour.pos, tour.m, tour.d
        p2, p4 = pos[t2], pos[t4]
        span = ((pos[t3] if x4 == 2 else p4) - p2) * dr % m
        before4, after4 = t[p4 - 1], t[(p4 + 1) % m]
        row1 = d[t1]
        for t5, d45 in self.cand[t4]:
            g3 = g2 - d45
            if g3 <= _EPS:
                break
            if t5 in (t1, before4, after4):
                continue
            p5 = pos[t5]
            row5 = d[t5]
            inside = (p5 - p2) * dr % m <= span
            if x4 == 1:  # the tour after the 2-opt move: t6 follows t5 toward t1's side
                t6 = t[(p5 + dr) % m] if inside else t[(p5 - dr) % m]
                if t6 == t1 or (t5 == t3 and t6 == t4):
                    continue
                gain = g3 + row5[t6] - row1[t6]
                if gain > _EPS:
                    return (1, t1, t2, t3, t4, t5, t6, gain)
            elif inside:  # t5 on the closed cycle t2..t3: either of its tour edges
                t6 = t[(p5 + dr) % m]
                if t5 != t3:
                    gain = g3 + row5[t6] - row1[t6]
                    if gain > _EPS:
                        return (2, t1, t2, t3, t4, t5, t6, gain)
                t6 = t[(p5 - dr) % m]
                if t5 != t2:
                    gain = g3 + row5[t6] - row1[t6]
                    if gain > _EPS:
                        return (3, t1, t2, t3, t4, t5, t6, gain)
        return None

    def _apply(self, kind: int, *args: float) -> list[int]:
        nodes = [int(x) for x in args[:-1]]
        tour = self.tour
        if kind == 0:
            t1, t2, t3, t4 = nodes
            tour.swap(t1, t2, t4, t3)
        elif kind == 1:
            t1, t2, t3, t4, t5, t6 = nodes
            tour.swap(t1, t2, t4, t3)
            tour.swap(t1, t4, t6, t5)
        elif kind == 2:  # t6 after t5 inside t2..t3: move block t6..t3 before t2..t5
            t1, t2, t3, t4, t5, t6 = nodes
            tour.swap(t1, t2, t3, t4)
            tour.swap(t1, t3, t6, t5)
            tour.swap(t3, t5, t2, t4)
        else:  # t6 before t5 inside t2..t3: reverse t2..t6 and t5..t3 in place
            t1, t2, t3, t4, t5, t6 = nodes
            tour.swap(t1, t2, t6, t5)
            tour.swap(t2, t5, t3, t4)
        tour.length -= float(args[-1])
        return nodes

    def descend(self, nodes: list[int], back_to: float | None = None) -> None:
        """Improve from the queued ``nodes`` (don't-look bits) until no move is found, or
        until a move brings the length back to ``back_to``: then the moves most likely
        restored the tour that was kicked, a local optimum where the rest of the queue
        would find nothing (this saves a fifth of the time of the kicks)."""
        tour = self.tour
        queue = deque(nodes)
        active = [False] * self.tour.m
        for node in nodes:
            active[node] = True
        while queue:
            node = queue.popleft()
            active[node] = False
            touched = self.improve(node)
            if touched is None:
                continue
            if back_to is not None and abs(tour.length - back_to) <= _EPS:
                return
            for other in [node, *touched]:
                if not active[other]:
                    active[other] = True
                    queue.append(other)

    def second_start(self, order: list[int]) -> tuple[float, list[int]]:
        """Descend from the path ``order`` as well; keep the shorter of the two local optima
        and return the other (length, tour)."""
        tour = self.tour
        saved_t, saved_length = tour.t[:], tour.length
        tour.set_path(order)
        self.descend(list(tour.t))
        if tour.length <= saved_length - _EPS:
            return saved_length, saved_t
        other = (tour.length, tour.t[:])
        tour.set(saved_t, saved_length)
        return other

    def perturb(self, rng: random.Random, count: int) -> None:
        """``count`` double bridges at random positions across the tour, then descend: a
        restart near the current tour (kept even though it is longer)."""
        tour = self.tour
        touched = []
        for _ in range(count):
            touched += tour.double_bridge(*sorted(rng.sample(range(tour.m), 3)))
        self.descend(touched)

    def kick(self, rng: random.Random, walk: int) -> bool:
        """Double bridge at three nodes close to each other; undone if the tour got longer.

        The nodes are the ends of short random walks on the candidate graph from a random
        node, so the three new edges are short and the repair stays local (Applegate, Cook
        and Rohe's random-walk kicks): much cheaper than cutting at random positions.
        """
        tour = self.tour
        t, pos, m, near = tour.t, tour.pos, tour.m, tour.near
        node = rng.randrange(m)
        cuts = {pos[node]}
        for _ in range(8 * walk):
            if len(cuts) == 3:
                break
            for _ in range(walk):
                node = rng.choice(near[node])
            cuts.add(pos[node])
        if len(cuts) < 3:
            return False
        saved_t, saved_pos, saved_length = t[:], pos[:], tour.length
        touched = tour.double_bridge(*sorted(cuts))
        self.descend(touched, back_to=saved_length)
        if tour.length > saved_length + _EPS:  # equal kept: it moves the search on
            t[:], pos[:], tour.length = saved_t, saved_pos, saved_length
        return tour.length < saved_length - _EPS


def lk_search(
    dist: np.ndarray,
    order: np.ndarray,
    *,
    n_kicks: int = 0,
    random_state: int = 0,
    neighbours: int = 8,
    kick_walk: int = 2,
    patience: int | None = None,
    alpha_steps: int = 0,
    alpha_candidates: int = 5,
) -> np.ndarray:
    """Shorten an open path by Lin-Kernighan-style local search, then seeded kicks.

    Parameters
    ----------
    dist : ndarray of shape (n, n)
        Symmetric distance matrix.
    order : ndarray of shape (n,)
        Starting permutation.
    n_kicks : int, default=0
        Random-walk double-bridge kicks (iterated local search); each is undone if the path got
        longer.
    random_state : int, default=0
        Seed of the kicks.
    neighbours : int, default=8
        Nearest items that a move may connect a node to.
    kick_walk : int, default=2
        Steps of the random walks that pick a kick's cut points.
    patience : int or None, default=None
        After this many kicks in a row that did not shorten the path, stop if half of
        ``n_kicks`` are spent, else restart: the first time from the other start (with
        ``alpha_steps``), then from the shortest path so far, perturbed by ``n / 30`` random
        double bridges; the result is the shortest path found (None: never).
    alpha_steps : int, default=0
        After the first local optimum, replace the candidate partners by the
        ``alpha_candidates`` alpha-nearest ones (:mod:`ordering._alpha`) from this many
        subgradient steps, and descend again; then descend from a second start, the
        greedy-edge path under the ascent's transformed distances ``d(i, j) + pi_i + pi_j``,
        and go on from the shorter of the two (0: keep the nearest-neighbour candidates).
    alpha_candidates : int, default=5
        Candidate partners per item with ``alpha_steps``.

    Returns
    -------
    order : ndarray of shape (n,), int64
        No longer than ``order``.
    """
    n = dist.shape[0]
    if n <= 3:
        from ordering._tsp import local_search

        return local_search(dist, order)
    tour = _Tour(dist, order, neighbours)
    search = _Search(tour)
    search.descend(list(tour.t))
    if alpha_steps:
        pi = ascent(dist, tour.path(), tour.length, n_iter=alpha_steps)
        search.set_candidates(alpha_lists(dist, pi, min(alpha_candidates, n - 1)))
        search.descend(list(tour.t))
        other = search.second_start(greedy_edge_path(dist + pi[:, None] + pi[None, :]).tolist())
    else:
        other = None
    _iterate(search, random.Random(random_state), n_kicks, kick_walk, patience, other)
    return tour.path()


def _iterate(
    search: _Search,
    rng: random.Random,
    n_kicks: int,
    walk: int,
    patience: int | None,
    other: tuple[float, list[int]] | None,
) -> None:
    """Kick ``n_kicks`` times; after ``patience`` kicks in a row that did not shorten the
    tour, stop if half the kicks are spent, else restart (from ``other`` the first time,
    then from the best tour perturbed); leave the best tour found."""
    tour = search.tour
    best = (tour.length, tour.t[:])
    idle = 0
    for done in range(1, n_kicks + 1):
        idle = 0 if search.kick(rng, walk) else idle + 1
        if patience is None or idle < patience:
            continue
        if tour.length < best[0] - _EPS:
            best = (tour.length, tour.t[:])
        if 2 * done >= n_kicks:
            break
        idle = 0
        if other is not None:
            tour.set(other[1], other[0])
            other = None
        else:
            tour.set(best[1], best[0])
            search.perturb(rng, max(2, tour.m // 30))
    if tour.length > best[0] + _EPS:
        tour.set(best[1], best[0])
