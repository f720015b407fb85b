"""What happened in a simulated store: the data every writer (truth, load cells, cameras,
gates, preview) reads. Times are seconds since the recording start, in true time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.catalog_gen import ProductInfo
from simulator.scenario import Scenario
from walkout.definition import StoreDefinition

BGR = tuple[int, int, int]


@dataclass(frozen=True)
class Appearance:
    height_m: float
    shoulder_m: float
    shirt: BGR
    accent: BGR
    pattern: int  # 0 plain, 1 stripes, 2 two-tone, 3 backpack
    hair: BGR
    skin: BGR
    trousers: BGR

    @property
    def radius_m(self) -> float:
        return self.shoulder_m / 2


@dataclass
class PersonTrack:
    """One shopper's floor trajectory, one row per camera tick from `first_tick` on."""

    person_id: str
    session_id: str
    appearance: Appearance
    first_tick: int
    xy: np.ndarray  # (n, 2) floor metres
    heading: np.ndarray  # (n,) radians, 0 = east, counter-clockwise
    enter_t: float
    exit_t: float | None

    def index(self, tick: int) -> int | None:
        k = tick - self.first_tick
        return k if 0 <= k < len(self.xy) else None


@dataclass(frozen=True)
class ShelfEvent:
    """A pick (units leave a lane) or a return (a unit goes onto a lane)."""

    event_id: str
    kind: str  # "pick" or "return"
    person_id: str
    session_id: str
    lane_id: str
    sku: str
    qty: int
    t: float  # the moment the lane's weight changes
    reach_start: float
    reach_end: float
    delta_g: float  # true change of the lane's weight (negative for a pick)
    distance_m: float  # shopper's centre to the lane front at `t`
    misplaced: bool = False  # a return onto a lane that does not hold this SKU
    home_lane_id: str | None = None  # a return: the lane the unit was taken from
    foreign: bool = False  # a pick of a unit someone had put on the wrong lane


@dataclass(frozen=True)
class Handoff:
    handoff_id: str
    t: float
    session_id: str
    from_person: str
    to_person: str
    sku: str
    qty: int


@dataclass(frozen=True)
class Knock:
    """A transient push on a shelf (someone leaning, a bump) that returns to rest."""

    knock_id: str
    shelf_id: str
    t: float
    duration_s: float
    peak_g: float
    person_id: str | None
    lane_gain: dict[str, float]  # lane -> share of the push its load cell feels


@dataclass(frozen=True)
class Merge:
    """Two people closer than MERGE_DISTANCE_M: their blobs touch from above."""

    person_ids: tuple[str, str]
    t_start: float
    t_end: float
    min_distance_m: float
    passing: bool  # both walking (brushing past) rather than standing together


@dataclass
class SessionRecord:
    session_id: str
    account_ref: str
    members: list[str]
    arrival_t: float
    scan_t: float
    enter_t: float
    exit_t: float | None


@dataclass(frozen=True)
class GateRecord:
    t: float
    gate_id: str
    kind: str  # "scan", "enter" or "exit"
    account_ref: str | None = None


@dataclass(frozen=True)
class LightingChange:
    t: float
    ramp_s: float
    gain_before: float
    gain_after: float


@dataclass
class CameraPlan:
    camera_id: str
    dropped: list[int]  # capture sequence numbers that never reach the recording
    gain: np.ndarray  # (n_ticks,) brightness multiplier per tick
    noise_seed: int


@dataclass
class World:
    scenario: Scenario
    definition: StoreDefinition
    products: dict[str, ProductInfo]
    entry_point: tuple[float, float]
    exit_point: tuple[float, float]
    dt: float
    n_ticks: int
    lane_tare_g: dict[str, float]
    lane_initial: dict[str, list[tuple[str, float]]]  # lane -> units (sku, grams), front first
    people: list[PersonTrack] = field(default_factory=list)
    sessions: list[SessionRecord] = field(default_factory=list)
    events: list[ShelfEvent] = field(default_factory=list)
    handoffs: list[Handoff] = field(default_factory=list)
    knocks: list[Knock] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    gate_log: list[GateRecord] = field(default_factory=list)
    lighting: list[LightingChange] = field(default_factory=list)
    cameras: list[CameraPlan] = field(default_factory=list)
    hub_offset_s: dict[str, float] = field(default_factory=dict)
    queue_left_unserved: int = 0

    @property
    def duration_s(self) -> float:
        return self.n_ticks * self.dt
