"""Named random streams, all derived from the scenario seed.

Each concern (catalog, arrivals, one camera's noise, ...) draws from its own stream, so
adding a draw in one place never changes what another place draws: same seed, same truth.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str, index: int = 0) -> np.random.Generator:
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.default_rng(
        np.random.SeedSequence([seed & 0xFFFFFFFF, seed >> 32, key, index])
    )
