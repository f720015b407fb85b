"""Path planning on an occupancy grid: where a shopper's centre may be, and which way to go.

The grid (10 cm cells) marks shelves and walls, grown by a body radius so that a free cell
is a place a shopper's centre can stand. A goal's distance field (Dijkstra over the
8-connected free cells, costlier close to shelves so people keep to the aisle middle) tells
every cell its remaining way; a shopper steps towards the best cell two cells away.
Fields are cached per goal cell.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from walkout.store import Store

CELL_M = 0.1
BODY_CLEARANCE_M = 0.26

# Ring of cells two steps away: the look-ahead of the steering.
_RING = [
    (di, dj)
    for di in range(-2, 3)
    for dj in range(-2, 3)
    if max(abs(di), abs(dj)) == 2 or (max(abs(di), abs(dj)) == 1)
]


class FloorGrid:
    def __init__(self, store: Store) -> None:
        self.nx = math.ceil(store.floor.width_m / CELL_M)
        self.ny = math.ceil(store.floor.depth_m / CELL_M)
        blocked = np.zeros((self.nx + 2, self.ny + 2), dtype=bool)
        blocked[0, :] = blocked[-1, :] = blocked[:, 0] = blocked[:, -1] = True
        for shelf in store.shelves:
            r = shelf.footprint
            i0, i1 = math.floor(r.x0 / CELL_M), math.ceil(r.x1 / CELL_M)
            j0, j1 = math.floor(r.y0 / CELL_M), math.ceil(r.y1 / CELL_M)
            blocked[i0 + 1 : i1 + 1, j0 + 1 : j1 + 1] = True
        # Distance from each cell centre to the nearest blocked cell's edge.
        clearance = ndimage.distance_transform_edt(~blocked) * CELL_M - CELL_M / 2
        self.clearance = clearance[1:-1, 1:-1]
        self.free = self.clearance >= BODY_CLEARANCE_M
        self._graph = self._build_graph(store)
        self._fields: dict[int, np.ndarray] = {}
        self._steps: dict[tuple[int, int, int], tuple[float, float] | None] = {}
        # For every cell, the nearest free cell (goals inside a shelf snap to the aisle).
        _, (ni, nj) = ndimage.distance_transform_edt(~self.free, return_indices=True)
        self._nearest_free = (ni * self.ny + nj).astype(np.int64)

    def _build_graph(self, store: Store) -> csr_matrix:
        idx = np.arange(self.nx * self.ny).reshape(self.nx, self.ny)
        rows, cols, costs = [], [], []
        # Keep to the aisle middle: cells near shelves cost up to 3x.
        penalty = 1 + 2 * np.clip(0.7 - self.clearance, 0, None) / 0.45
        # Gates are for going in and out: passers-by keep clear of them.
        for gate in store.gates:
            a = gate.area
            i0, i1 = max(0, math.floor((a.x0 - 0.3) / CELL_M)), math.ceil((a.x1 + 0.3) / CELL_M)
            j1 = math.ceil((a.y1 + 0.3) / CELL_M)
            penalty[i0:i1, :j1] *= 4
        for di, dj in ((1, 0), (0, 1), (1, 1), (1, -1)):
            sa = (slice(0, self.nx - di), slice(max(0, -dj), self.ny - max(0, dj)))
            sb = (slice(di, self.nx), slice(max(0, dj), self.ny - max(0, -dj)))
            both = self.free[sa] & self.free[sb]
            step = CELL_M * math.hypot(di, dj)
            rows.append(idx[sa][both])
            cols.append(idx[sb][both])
            costs.append(step * (penalty[sa][both] + penalty[sb][both]) / 2)
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        w = np.concatenate(costs)
        n = self.nx * self.ny
        return csr_matrix(
            (np.concatenate([w, w]), (np.concatenate([r, c]), np.concatenate([c, r]))), shape=(n, n)
        )

    def cell(self, x: float, y: float) -> tuple[int, int]:
        i = min(self.nx - 1, max(0, int(x / CELL_M)))
        j = min(self.ny - 1, max(0, int(y / CELL_M)))
        return i, j

    def is_free(self, x: float, y: float) -> bool:
        i, j = int(x / CELL_M), int(y / CELL_M)
        return 0 <= i < self.nx and 0 <= j < self.ny and bool(self.free[i, j])

    def nearest_free(self, x: float, y: float) -> tuple[float, float]:
        """The centre of the free cell nearest to (x, y) (itself when free)."""
        if self.is_free(x, y):
            return x, y
        fi, fj = np.nonzero(self.free)
        cx, cy = (fi + 0.5) * CELL_M, (fj + 0.5) * CELL_M
        k = int(np.argmin((cx - x) ** 2 + (cy - y) ** 2))
        return float(cx[k]), float(cy[k])

    def goal_key(self, x: float, y: float) -> int:
        i, j = self.cell(x, y)
        return int(self._nearest_free[i, j])

    def field(self, key: int) -> np.ndarray:
        """Remaining path length from every cell to the goal cell `key` (see `goal_key`)."""
        if key not in self._fields:
            dist = dijkstra(self._graph, directed=False, indices=key)
            self._fields[key] = dist.reshape(self.nx, self.ny).astype(np.float32)
        return self._fields[key]

    def steer(self, key: int, x: float, y: float) -> tuple[float, float] | None:
        """Unit direction towards goal cell `key` from (x, y); None when unreachable."""
        i, j = self.cell(x, y)
        memo = (key, i, j)
        if memo not in self._steps:
            self._steps[memo] = self._steer(self.field(key), i, j)
        return self._steps[memo]

    def _steer(self, field: np.ndarray, i: int, j: int) -> tuple[float, float] | None:
        here = field[i, j]
        best, best_d = None, here if np.isfinite(here) else np.inf
        for di, dj in _RING:
            a, b = i + di, j + dj
            if not (0 <= a < self.nx and 0 <= b < self.ny):
                continue
            d = field[a, b]
            # Two-cell steps need a free cell in between (no corner cutting through shelves).
            if abs(di) == 2 or abs(dj) == 2:
                mi, mj = i + round(di / 2 + 0.01), j + round(dj / 2 + 0.01)
                if not self.free[mi, mj]:
                    continue
            if d < best_d - 1e-9:
                best, best_d = (a, b), d
        if best is None:
            return None
        tx, ty = float(best[0] - i), float(best[1] - j)
        n = math.hypot(tx, ty)
        return tx / n, ty / n
