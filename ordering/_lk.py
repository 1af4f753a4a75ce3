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
nearest, at about half the cost per kick). Kicks are double bridges whose three cut points
are ends of short random walks on the candidate graph, so the new edges are short and the
repair stays local; a kick is undone if the tour got longer.

Pure Python on lists (Python's own ints and floats index faster than numpy scalars); the
random numbers come from ``random.Random(seed)``, so a seed gives one result. Speed: about
0.3-1 ms per kick on one quiet core of the 2-core VM, so ``n_kicks`` sets the time.
"""

from __future__ import annotations

import random
from collections import deque

import numpy as np

from ordering._alpha import alpha_lists, ascent

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
        self.near = _neighbour_lists(dist, min(neighbours, n - 1))
        self.length = float(sum(self.d[a][b] for a, b in zip(self.t, self.t[1:], strict=False)))

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
            t[i : j + 1] = t[i : j + 1][::-1]
            for k in range(i, j + 1):
                pos[t[k]] = k
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


def _neighbour_lists(dist: np.ndarray, k: int) -> list[list[int]]:
    """Each item's ``k`` candidate partners after the zero-distance node (a path end is always
    a candidate), sorted by distance; the zero-distance node's list holds the items farthest
    from their nearest.

    Candidates are the nearest under ``d(i, j) - (r_i + r_j) / 2``, ``r`` being each item's
    nearest-neighbour distance. In high-dimensional feature maps plain nearest neighbours are
    a poor guide (some maps are near everything, others near nothing): a quarter of the edges
    of near-optimal paths on real layers join items that are not among each other's 8
    nearest; with this correction 2-5 %.
    """
    n = dist.shape[0]
    masked = dist + np.diag(np.full(n, np.inf))
    nearest = masked.min(axis=1)
    scaled = masked - 0.5 * (nearest[:, None] + nearest[None, :])
    if k < n - 1:
        near = np.argpartition(scaled, k - 1, axis=1)[:, :k]
    else:
        near = np.argsort(scaled, axis=1)[:, :k]
    rows = np.arange(n)[:, None]
    near = near[rows, np.argsort(masked[rows, near], axis=1, kind="stable")]
    lists = [[n, *row] for row in near.tolist()]
    lonely = np.argsort(-nearest, kind="stable")[:k]
    return [*lists, lonely.tolist()]


class _Search:
    """Sequential 2-opt and 3-opt moves (LK depth 3) found by neighbour lists, no trial moves."""

    def __init__(self, tour: _Tour) -> None:
        self.tour = tour

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
        t, pos, m, d, near = tour.t, tour.pos, tour.m, tour.d, tour.near
        p1 = pos[t1]
        t2 = t[(p1 + dr) % m]
        g0 = d[t1][t2]
        p2 = pos[t2]
        for t3 in near[t2]:
            g1 = g0 - d[t2][t3]
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
        row1, row4 = d[t1], d[t4]
        for t5 in tour.near[t4]:
            g3 = g2 - row4[t5]
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

    def descend(self, nodes: list[int]) -> None:
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
            for other in [node, *touched]:
                if not active[other]:
                    active[other] = True
                    queue.append(other)

    def kick(self, rng: random.Random, walk: int) -> bool:
        """Double bridge at three nodes close to each other; undone if the tour got longer.

        The nodes are the ends of short random walks on the candidate graph from a random
        node, so the three new edges are short and the repair stays local (Applegate, Cook
        and Rohe's random-walk kicks): much cheaper than cutting at random positions.
        """
        tour = self.tour
        t, pos, d, m, near = tour.t, tour.pos, tour.d, tour.m, tour.near
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
        p1, p2, p3 = sorted(cuts)
        i, j, k = p1 + 1, p2 + 1, p3 + 1
        before, after = t[p1], t[k % m]
        delta = (
            d[before][t[j]] + d[t[k - 1]][t[i]] + d[t[j - 1]][after]
            - d[before][t[i]] - d[t[j - 1]][t[j]] - d[t[k - 1]][after]
        )  # fmt: skip
        saved_t, saved_pos, saved_length = t[:], pos[:], tour.length
        touched = [before, t[i], t[j - 1], t[j], t[k - 1], after]
        t[i:k] = t[j:k] + t[i:j]
        for q in range(i, k):
            pos[t[q]] = q
        tour.length += delta
        self.descend(touched)
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
        Stop after this many kicks in a row that did not shorten the path (None: never).
    alpha_steps : int, default=0
        After the first local optimum, replace the candidate partners by the
        ``alpha_candidates`` alpha-nearest ones (:mod:`ordering._alpha`) from this many
        subgradient steps, and descend again (0: keep the nearest-neighbour candidates).
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
        tour.near = alpha_lists(dist, pi, min(alpha_candidates, n - 1))
        search.descend(list(tour.t))
    rng = random.Random(random_state)
    idle = 0
    for _ in range(n_kicks):
        idle = 0 if search.kick(rng, kick_walk) else idle + 1
        if patience is not None and idle >= patience:
            break
    return tour.path()
