"""Study cases: a simulated store day (store definition + ground truth) per scenario and
seed, simulated in-process (no video rendering) and cached on disk, or read from a
recording folder written by `walkout sim record` (store.json + truth.json)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from walkout.definition import StoreDefinition

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "walkout-attribution-study"


@dataclass(frozen=True)
class Case:
    scenario: str
    seed: int
    definition: StoreDefinition
    truth: dict[str, Any]
    loadcell_noise_g: float

    @property
    def name(self) -> str:
        return f"{self.scenario}-{self.seed}"


def simulated(scenario: str, seed: int, cache: Path = DEFAULT_CACHE) -> Case:
    path = cache / f"{scenario}-{seed}.json"
    if path.is_file():
        doc = json.loads(path.read_text(encoding="utf-8"))
    else:
        from simulator.scenario import load_scenario  # noqa: PLC0415 - heavy, only when needed
        from simulator.simulate import simulate  # noqa: PLC0415
        from simulator.truth import build_truth  # noqa: PLC0415

        spec = load_scenario(scenario).model_copy(update={"seed": seed})
        world = simulate(spec)
        doc = {
            "definition": json.loads(world.definition.to_json()),
            "truth": build_truth(world),
            "loadcell_noise_g": spec.loadcells.noise_g,
        }
        cache.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc), encoding="utf-8")
    return Case(
        scenario=scenario,
        seed=seed,
        definition=StoreDefinition.model_validate(doc["definition"]),
        truth=doc["truth"],
        loadcell_noise_g=float(doc["loadcell_noise_g"]),
    )


def recorded(folder: Path) -> Case:
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    recording = json.loads((folder / "recording.json").read_text(encoding="utf-8"))
    noise = float(recording.get("scenario", {}).get("loadcells", {}).get("noise_g", 1.5))
    return Case(
        scenario=str(truth.get("scenario", folder.name)),
        seed=int(truth.get("seed", 0)),
        definition=StoreDefinition.load(folder / "store.json"),
        truth=truth,
        loadcell_noise_g=noise,
    )
