"""Fixtures for the simulator tests: a tiny store that simulates in well under a second."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.scenario import Scenario, parse_scenario
from simulator.simulate import simulate
from simulator.world import World


def tiny_scenario(seed: int = 1, **overrides: Any) -> Scenario:
    doc: dict[str, Any] = {
        "name": "tiny",
        "seed": seed,
        "duration_s": 75,
        "store": {
            "width_m": 6,
            "depth_m": 6,
            "aisles": 2,
            "shelves_per_aisle": 2,
            "lanes_per_shelf": 6,
            "catalog_size": 12,
            "similar_weight_fraction": 0.3,
        },
        "cameras": {"resolution": [320, 240], "fps": 5, "height_m": 3.5, "frame_drop_rate": 0.02},
        "loadcells": {"rate_hz": 20, "vibration_per_hour": 20},
        "shoppers": {
            "arrivals_per_hour": 900,
            "max_concurrent": 10,
            "group_sizes": {1: 0.4, 2: 0.4, 3: 0.2},
            "items_per_visit_mean": 3,
            "multi_pick_prob": 0.4,
            "put_back_prob": 0.4,
            "misplace_prob": 0.5,
            "handoff_prob": 0.8,
            "linger_prob": 0.3,
        },
    }
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        if name:
            doc[section][name] = value
        else:
            doc[section] = value
    return parse_scenario(doc)


@pytest.fixture(scope="session")
def tiny_worlds() -> dict[int, World]:
    """Three simulated tiny stores (seeds 1-3), shared by the invariant tests."""
    return {seed: simulate(tiny_scenario(seed)) for seed in (1, 2, 3)}


@pytest.fixture(scope="session")
def make_scenario() -> Any:
    """The tiny scenario factory: `make_scenario(seed, section__key=value, ...)`."""
    return tiny_scenario
