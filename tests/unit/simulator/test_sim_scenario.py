"""Scenario files: defaults, bundled scenarios, and one clear line for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulator.layout import build_layout
from simulator.scenario import (
    Scenario,
    ScenarioError,
    bundled_scenarios,
    load_scenario,
    parse_scenario,
)
from walkout_cli.main import main


def test_an_empty_scenario_takes_every_default() -> None:
    # Given an empty document / When parsed / Then it equals the defaults
    assert parse_scenario({}) == Scenario()
    assert parse_scenario(None) == Scenario()


def test_the_four_bundled_scenarios_load_and_lay_out() -> None:
    # Given the bundled scenario files
    bundled = bundled_scenarios()
    assert {"demo", "busy", "stadium-rush", "crowded"} <= set(bundled)
    for name in ("demo", "busy", "stadium-rush", "crowded"):
        # When loaded by name / Then the name matches and the store can be built
        scenario = load_scenario(name)
        assert scenario.name == name
        assert build_layout(scenario).store.cameras


def test_bundled_scenarios_use_exactly_the_design_keys() -> None:
    # Given every key of the design's scenario list
    top = {"name", "seed", "duration_s", "store", "cameras", "loadcells", "shoppers", "network"}
    for path in bundled_scenarios().values():
        # When read as plain YAML / Then no key outside the model appears (the model forbids extras)
        doc = yaml.safe_load(path.read_text())
        assert set(doc) <= top
        parse_scenario(doc)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"shoppers": {"put_back_prob": 1.5}}, "scenario shoppers.put_back_prob: must be <= 1"),
        ({"shoppers": {"misplace_prob": -0.1}}, "scenario shoppers.misplace_prob: must be >= 0"),
        ({"store": {"colour": "red"}}, "scenario store.colour: unknown key"),
        ({"weather": "rain"}, "scenario weather: unknown key"),
        ({"cameras": {"fps": "fast"}}, "scenario cameras.fps: must be a number"),
        ({"store": {"aisles": 2.5}}, "scenario store.aisles: must be a whole number"),
        ({"cameras": {"resolution": [640]}}, "scenario cameras.resolution"),
        (
            {"shoppers": {"group_sizes": {1: 0.5, 2: 0.2}}},
            "scenario shoppers.group_sizes: probabilities must sum to 1 (they sum to 0.7)",
        ),
        ({"network": {"outages": [{"start_s": 5}]}}, "scenario network.outages.0.duration_s"),
        ({"duration_s": 0}, "scenario duration_s: must be >= 10"),
        ({"store": "big"}, "scenario store: must be a mapping"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(doc: dict, message: str) -> None:
    # Given a scenario with one bad key / When parsed / Then the error names it on one line
    with pytest.raises(ScenarioError) as err:
        parse_scenario(doc)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_a_store_too_narrow_for_its_aisles_is_rejected() -> None:
    # Given 6 aisles in a 5 m wide store / When laid out / Then the width is named
    scenario = parse_scenario({"store": {"width_m": 5, "aisles": 6}})
    with pytest.raises(
        ScenarioError, match=r"^scenario store.width_m: 5 m is too narrow for 6 aisles"
    ):
        build_layout(scenario)


def test_a_store_too_short_for_its_shelves_is_rejected() -> None:
    scenario = parse_scenario({"store": {"depth_m": 5, "shelves_per_aisle": 10}})
    with pytest.raises(ScenarioError, match=r"^scenario store.depth_m"):
        build_layout(scenario)


def test_the_cli_stops_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a scenario file with a probability above 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("shoppers:\n  put_back_prob: 1.2\n")
    # When recorded through the CLI
    code = main(["sim", "record", "--scenario", str(bad), "--out", str(tmp_path / "rec")])
    # Then it exits 2 with exactly one line naming the key, and writes nothing
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["walkout sim: scenario shoppers.put_back_prob: must be <= 1"]
    assert not (tmp_path / "rec").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("shoppers: [1, 2\n", "not valid YAML (line"),
        ("- just\n- a list\n", "scenario: the file must be a mapping of keys"),
    ],
)
def test_unreadable_files_are_one_line_too(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(")):
        load_scenario(str(path))


def test_an_unknown_bundled_name_lists_the_known_ones() -> None:
    with pytest.raises(
        ScenarioError, match=r"no such file or bundled scenario \(busy, crowded, demo"
    ):
        load_scenario("nonesuch")
