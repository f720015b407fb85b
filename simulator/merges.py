"""Merges: two people so close (< 0.6 m apart) that their blobs touch from above.

An episode starts when a pair comes closer than MERGE_DISTANCE_M and ends when they are
MERGE_RELEASE_M apart again (or one leaves), so one brush-past counts once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simulator.people import Agent
from simulator.world import Merge

MERGE_DISTANCE_M = 0.6
MERGE_RELEASE_M = 0.7
WALKING_M_S = 0.3


class MergeTracker:
    def __init__(self) -> None:
        # (agent idx, agent idx) -> [start, last seen, closest, both walking]
        self._open: dict[tuple[int, int], list[float]] = {}
        self._ids: dict[int, str] = {}

    def track(self, t: float, inside: Sequence[Agent]) -> list[Merge]:
        """Look at everyone inside at time t; returns the episodes that ended."""
        close: set[tuple[int, int]] = set()
        if len(inside) >= 2:
            pos = np.array([a.pos for a in inside])
            d = np.hypot(pos[:, None, 0] - pos[None, :, 0], pos[:, None, 1] - pos[None, :, 1])
            ii, jj = np.nonzero(np.triu(d < MERGE_RELEASE_M, 1))
            for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
                a, b = inside[i], inside[j]
                key = (min(a.idx, b.idx), max(a.idx, b.idx))
                dist = float(d[i, j])
                state = self._open.get(key)
                if state is None and dist < MERGE_DISTANCE_M:
                    walking = min(float(np.hypot(*a.vel)), float(np.hypot(*b.vel))) > WALKING_M_S
                    self._open[key] = [t, t, dist, float(walking)]
                    self._ids[a.idx], self._ids[b.idx] = a.person_id, b.person_id
                elif state is not None:
                    state[1] = t
                    state[2] = min(state[2], dist)
                if key in self._open:
                    close.add(key)
        return [self._end(key) for key in [k for k in self._open if k not in close]]

    def close(self) -> list[Merge]:
        """End every open episode (the recording is over)."""
        return [self._end(key) for key in sorted(self._open)]

    def _end(self, key: tuple[int, int]) -> Merge:
        start, end, dist, walking = self._open.pop(key)
        return Merge(
            (self._ids[key[0]], self._ids[key[1]]),
            round(start, 3),
            round(end, 3),
            round(dist, 3),
            bool(walking),
        )
