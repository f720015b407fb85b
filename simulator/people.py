"""A shopper as the simulation moves them: body and looks, what they carry, what they do next."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from simulator.world import Appearance, SessionRecord

SHIRTS = (
    (40, 40, 180), (180, 60, 30), (30, 140, 40), (30, 200, 230), (200, 200, 200),
    (40, 40, 40), (120, 40, 120), (20, 110, 220), (160, 150, 40), (90, 90, 160),
    (230, 230, 240), (60, 90, 60), (140, 100, 220), (30, 60, 100), (190, 120, 120),
)  # fmt: skip
HAIR = ((20, 20, 25), (30, 45, 70), (60, 90, 140), (70, 150, 205), (105, 105, 110), (40, 40, 160))
SKIN = ((150, 180, 220), (110, 150, 200), (80, 110, 160), (60, 80, 120))


@dataclass
class Unit:
    sku: str
    grams: float
    from_lane: str


@dataclass
class Task:
    kind: str  # pick, return_home, handoff, follow, exit
    lane_id: str | None = None
    unit: Unit | None = None
    partner: int | None = None  # agent index (handoff receiver, followed member)
    together: bool = False  # shopping side by side with the group: reach without lingering


@dataclass
class Agent:
    idx: int
    person_id: str
    session: SessionRecord
    look: Appearance
    speed: float
    pos: np.ndarray
    enter_t: float
    tasks: deque[Task]
    heading: float = math.pi / 2
    vel: np.ndarray = field(default_factory=lambda: np.zeros(2))
    busy_until: float = 0.0
    blocked_s: float = 0.0
    task_walk_s: float = 0.0
    current: Task | None = None
    spot: tuple[float, float] | None = None
    holding: list[Unit] = field(default_factory=list)
    dump_next: list[Unit] = field(default_factory=list)
    entered: bool = False
    inside: bool = False
    slot: int = -1
    exit_goal: tuple[float, float] | None = None
    at_lane: str | None = None  # the lane the shopper stands at (while busy there)
    exit_t: float | None = None
    first_tick: int = 0
    xy: list[tuple[float, float]] = field(default_factory=list)
    headings: list[float] = field(default_factory=list)


def new_appearance(rng: np.random.Generator) -> Appearance:
    """Height, shoulders and clothing of a new shopper (adult body sizes)."""
    return Appearance(
        height_m=float(np.clip(rng.normal(1.72, 0.08), 1.5, 1.95)),
        shoulder_m=float(np.clip(rng.normal(0.45, 0.025), 0.39, 0.51)),
        shirt=SHIRTS[int(rng.integers(len(SHIRTS)))],
        accent=SHIRTS[int(rng.integers(len(SHIRTS)))],
        pattern=int(rng.integers(4)),
        hair=HAIR[int(rng.integers(len(HAIR)))],
        skin=SKIN[int(rng.integers(len(SKIN)))],
        trousers=SHIRTS[int(rng.integers(len(SHIRTS)))],
    )
