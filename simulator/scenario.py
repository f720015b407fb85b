"""Scenario files: the knobs of one simulated recording (DESIGN.md section 7).

Every key is optional over the defaults below; an unknown key or a bad value is a
`ScenarioError` whose message names the key, e.g.
`scenario shoppers.put_back_prob: must be <= 1`. Lengths are metres, times seconds,
weights grams, rates per hour unless the name says otherwise.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import benchmarks

Probability = Annotated[float, Field(ge=0, le=1)]


class ScenarioError(ValueError):
    """A scenario that cannot be recorded; the message is one line naming the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSpec(_Section):
    width_m: Annotated[float, Field(gt=0, le=200)] = 12.0
    depth_m: Annotated[float, Field(gt=0, le=200)] = 10.0
    # Walking aisles; gondolas stand between them (back to back) and along both walls.
    aisles: Annotated[int, Field(ge=1, le=40)] = 3
    # Shelf units in one aisle, split over its two sides.
    shelves_per_aisle: Annotated[int, Field(ge=1, le=40)] = 4
    # Lanes (each with its own load cell) per shelf unit, over three levels.
    lanes_per_shelf: Annotated[int, Field(ge=1, le=60)] = 12
    catalog_size: Annotated[int, Field(ge=3, le=5000)] = 60
    similar_weight_fraction: Probability = 0.1


class CameraSpec(_Section):
    resolution: tuple[
        Annotated[int, Field(ge=64, le=3840)], Annotated[int, Field(ge=48, le=2160)]
    ] = (
        640,
        480,
    )
    fps: Annotated[float, Field(ge=1, le=60)] = 10.0
    height_m: Annotated[float, Field(ge=2.5, le=8)] = 3.5
    # Share of each camera's footprint (at head height) that its neighbour also sees.
    overlap: Annotated[float, Field(ge=0, le=0.8)] = 0.2
    noise_sigma: Annotated[float, Field(ge=0, le=40)] = 3.0
    frame_drop_rate: Annotated[float, Field(ge=0, le=0.5)] = 0.005
    # Largest relative brightness change (0.1 = +-10 %), slow drift and sudden changes.
    lighting_drift: Annotated[float, Field(ge=0, le=0.5)] = 0.08


class LoadCellSpec(_Section):
    rate_hz: Annotated[float, Field(ge=1, le=200)] = 20.0
    noise_g: Annotated[float, Field(ge=0, le=100)] = 1.5
    drift_g_per_hour: Annotated[float, Field(ge=0, le=1000)] = 8.0
    # Knocks (a shopper leaning on the shelf, a bump) per shelf per hour.
    vibration_per_hour: Annotated[float, Field(ge=0, le=3600)] = 3.0
    # Each hub's clock is off by a fixed amount drawn from +-clock_skew_ms.
    clock_skew_ms: Annotated[float, Field(ge=0, le=60_000)] = 40.0


class ShopperSpec(_Section):
    arrivals_per_hour: Annotated[float, Field(ge=0, le=100_000)] = 60.0
    max_concurrent: Annotated[int, Field(ge=1, le=500)] = 20
    group_sizes: dict[Annotated[int, Field(ge=1, le=8)], Probability] = Field(
        default_factory=lambda: {1: 0.8, 2: 0.15, 3: 0.05}
    )
    items_per_visit_mean: Annotated[float, Field(ge=0, le=50)] = 3.0
    multi_pick_prob: Probability = 0.15
    put_back_prob: Probability = 0.1
    misplace_prob: Probability = 0.25
    handoff_prob: Probability = 0.3
    linger_prob: Probability = 0.3

    @field_validator("group_sizes")
    @classmethod
    def _a_distribution(cls, sizes: dict[int, float]) -> dict[int, float]:
        if not sizes:
            raise ValueError("needs at least one group size")
        total = sum(sizes.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"probabilities must sum to 1 (they sum to {total:g})")
        return dict(sorted(sizes.items()))


class Outage(_Section):
    start_s: Annotated[float, Field(ge=0)]
    duration_s: Annotated[float, Field(gt=0)]


class NetworkSpec(_Section):
    outages: list[Outage] = Field(default_factory=list)


class Scenario(_Section):
    name: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    ] = "scenario"
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    duration_s: Annotated[float, Field(ge=10, le=86_400)] = 300.0
    store: StoreSpec = Field(default_factory=StoreSpec)
    cameras: CameraSpec = Field(default_factory=CameraSpec)
    loadcells: LoadCellSpec = Field(default_factory=LoadCellSpec)
    shoppers: ShopperSpec = Field(default_factory=ShopperSpec)
    network: NetworkSpec = Field(default_factory=NetworkSpec)


def _describe(error: Any) -> str:
    """One pydantic error as `key.path: problem`."""
    loc = ".".join(str(part) for part in error["loc"])
    ctx = error.get("ctx") or {}
    kind = error["type"]
    bounds = {
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
    }
    if kind in bounds:
        op, key = bounds[kind]
        bound = ctx.get(key)
        problem = (
            f"must be {op} {bound:g}" if isinstance(bound, int | float) else f"must be {op} {bound}"
        )
    elif kind == "extra_forbidden":
        problem = "unknown key"
    elif kind in ("float_parsing", "float_type"):
        problem = "must be a number"
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        problem = "must be a whole number"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        problem = "must be a mapping"
    elif kind in ("list_type", "tuple_type"):
        problem = "must be a list"
    elif kind == "string_pattern_mismatch":
        problem = "use letters, digits, '.', '_' or '-'"
    elif kind == "value_error":
        problem = str(ctx.get("error", error["msg"]))
    else:
        problem = str(error["msg"]).lower()
    return f"{loc}: {problem}" if loc else problem


def parse_scenario(document: object) -> Scenario:
    """Validate a parsed YAML document; the first problem becomes a `ScenarioError`."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ScenarioError("scenario: the file must be a mapping of keys")
    try:
        return Scenario.model_validate(document)
    except ValidationError as exc:
        raise ScenarioError(f"scenario {_describe(exc.errors()[0])}") from None


def bundled_scenarios() -> dict[str, Path]:
    """Scenario name -> file for the scenarios shipped in `benchmarks/scenarios/`."""
    folder = Path(benchmarks.__file__).parent / "scenarios"
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))}


def resolve_scenario_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled = bundled_scenarios()
    if name_or_path in bundled:
        return bundled[name_or_path]
    known = ", ".join(bundled)
    raise ScenarioError(f"scenario {name_or_path}: no such file or bundled scenario ({known})")


def load_scenario(name_or_path: str) -> Scenario:
    """Read a scenario from a YAML file or a bundled name such as `demo`."""
    path = resolve_scenario_path(name_or_path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ScenarioError(f"scenario {path}: not valid YAML{where}") from None
    except OSError as exc:
        raise ScenarioError(f"scenario {path}: {exc.strerror}") from None
    return parse_scenario(document)
