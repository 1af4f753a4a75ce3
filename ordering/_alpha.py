"""Candidate partners for the local search of :mod:`ordering._lk`: corrected nearest neighbours,
and alpha-nearness (Helsgaun's LKH).

Node multipliers ``pi`` come from a short subgradient ascent of the Held-Karp bound on a sparse
graph (each item's nearest items plus the edges of a known path; scipy's minimum spanning tree
on it). On the transformed distances ``d(i, j) + pi_i + pi_j`` the alpha-nearness of an edge
is how much longer the minimum spanning tree gets when forced to contain it: the edge's length
minus the longest edge on the tree path between its ends. Edges of near-optimal paths have
small alpha far more often than small length, so fewer candidates per item do.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree


def ascent(
    dist: np.ndarray, order: np.ndarray, upper_bound: float, *, n_iter: int, k: int = 10
) -> np.ndarray:
    """Multipliers of the best 1-tree value over ``n_iter`` subgradient steps (Polyak steps to
    ``upper_bound``, halved after 10 steps without progress) on the sparse graph."""
    n = dist.shape[0]
    masked = dist + np.diag(np.full(n, np.inf))
    near = np.argpartition(masked, min(k, n - 1) - 1, axis=1)[:, : min(k, n - 1)]
    i = np.concatenate([np.repeat(np.arange(n), near.shape[1]), order[:-1]])
    j = np.concatenate([near.ravel(), order[1:]])
    pairs = np.unique(np.minimum(i, j) * n + np.maximum(i, j))
    i, j = pairs // n, pairs % n
    base = dist[i, j]
    pi, direction, best_pi = np.zeros(n), np.zeros(n), np.zeros(n)
    best, step, stale = -np.inf, 1.0, 0
    for _ in range(n_iter):
        weights = base + pi[i] + pi[j]
        shift = 1.0 - weights.min()  # positive weights: csgraph reads 0 as no edge
        graph = coo_matrix((weights + shift, (i, j)), shape=(n, n)).tocsr()
        tree = minimum_spanning_tree(graph).tocoo()
        degree = np.bincount(tree.row, minlength=n) + np.bincount(tree.col, minlength=n)
        ends = np.argsort(pi, kind="stable")[:2]  # the zero-distance node's two edges
        degree[ends] += 1
        value = tree.data.sum() - shift * tree.nnz + pi[ends].sum() - 2.0 * pi.sum()
        if value > best:
            best, best_pi, stale = value, pi.copy(), 0
        else:
            stale += 1
            if stale >= 10:
                step, stale = step / 2.0, 0
        gradient = degree - 2
        if not gradient.any():
            break
        direction = 0.7 * gradient + 0.3 * direction
        pi = pi + step * max(upper_bound - value, 0.0) / float(direction @ direction) * direction
    return best_pi


def alpha_nearness(weights: np.ndarray) -> np.ndarray:
    """``weights[i, j]`` minus the longest edge on the minimum-spanning-tree path from i to j.

    Prim's tree on the dense matrix; then, in the order Prim added the nodes, the longest edge
    to every earlier node is that of the parent or the edge to the parent: O(n^2).
    """
    n = weights.shape[0]
    in_tree = np.zeros(n, dtype=bool)
    cheapest = weights[0].astype(np.float64)
    parent = np.zeros(n, dtype=np.int64)
    beta = np.zeros((n, n))
    added = np.zeros(n, dtype=np.int64)  # added[:count]: the nodes in the tree, in order
    in_tree[0] = True
    cheapest[0] = np.inf
    for count in range(1, n):
        node = int(np.argmin(cheapest))
        up = int(parent[node])
        earlier = added[:count]
        row = np.maximum(beta[up, earlier], weights[node, up])
        beta[node, earlier] = row
        beta[earlier, node] = row
        added[count] = node
        in_tree[node] = True
        cheapest[node] = np.inf
        closer = (weights[node] < cheapest) & ~in_tree
        cheapest[closer] = weights[node][closer]
        parent[closer] = node
    return weights - beta


def alpha_lists(dist: np.ndarray, pi: np.ndarray, k: int) -> list[list[int]]:
    """Each item's ``k`` smallest-alpha partners after the zero-distance node, sorted by
    distance; the zero-distance node's list: the ``k`` items of smallest ``pi`` (its cheapest
    transformed edges)."""
    n = dist.shape[0]
    alpha = alpha_nearness(dist + pi[:, None] + pi[None, :])
    alpha[np.diag_indices(n)] = np.inf
    near = np.argpartition(alpha, k - 1, axis=1)[:, :k] if k < n - 1 else np.argsort(alpha)[:, :k]
    rows = np.arange(n)[:, None]
    near = near[rows, np.argsort(dist[rows, near], axis=1, kind="stable")]
    lists = [[n, *row] for row in near.tolist()]
    return [*lists, np.argsort(pi, kind="stable")[:k].tolist()]


def neighbour_lists(dist: np.ndarray, k: int) -> list[list[int]]:
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
