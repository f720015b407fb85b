"""The daemon's YAML config: what it accepts, and one line naming the key when it does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from walkout_edge.config import (
    ConfigError,
    EventsSourceConfig,
    LiveSourceConfig,
    MqttFeed,
    load_config,
)
from walkout_edge.uplink.backoff import Failure


@pytest.fixture
def base(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "events.jsonl").write_text("")
    return {
        "store_id": "store-042",
        "device_id": "edge-1",
        "region": "eu-west-1",
        "stream_name": "walkout-prod-events",
        "evidence_bucket": "walkout-prod-evidence-123456789012-eu-west-1",
        "outbox_path": "state/outbox.db",
        "heartbeat_s": 2,
        "source": {"kind": "events", "path": "rec/events.jsonl", "speed": 0},
    }


def _load(tmp_path: Path, data: Any) -> Any:
    path = tmp_path / "edge.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return load_config(path)


def _error(tmp_path: Path, data: Any) -> str:
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, data)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_minimal_config_gets_defaults_and_paths_relative_to_the_file(
    tmp_path: Path, base: dict[str, Any]
) -> None:
    config = _load(tmp_path, base)

    assert config.outbox_path == tmp_path / "state" / "outbox.db"
    assert isinstance(config.source, EventsSourceConfig)
    assert config.source.path == tmp_path / "rec" / "events.jsonl"
    assert config.source.speed == 0
    assert config.endpoint_url is None
    assert config.health.host == "127.0.0.1"
    assert config.uplink.schedules()[Failure.OFFLINE].cap_s == 10.0


def test_live_sources_are_described_by_transport(tmp_path: Path, base: dict[str, Any]) -> None:
    (tmp_path / "store.json").write_text("{}")
    base["source"] = {
        "kind": "live",
        "store_layout": "store.json",
        "cameras": [
            {"id": "cam-1", "url": "rtsp://10.0.0.21/stream1"},
            {"id": "cam-2", "url": "0"},
        ],
        "loadcells": {"transport": "tcp", "host": "10.0.0.40", "port": 5020},
        "gates": {"transport": "mqtt", "host": "localhost", "topic": "store/gates"},
    }

    config = _load(tmp_path, base)

    assert isinstance(config.source, LiveSourceConfig)
    assert isinstance(config.source.gates, MqttFeed) and config.source.gates.port == 1883


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"store_id": None}, "store_id: Input should be a valid string"),
        ({"stream_name": "bad name"}, "stream_name: String should match pattern"),
        ({"heartbeat_s": 0}, "heartbeat_s: Input should be greater than 0"),
        ({"colour": "blue"}, "colour: unknown key"),
        (
            {"source": {"kind": "events", "path": "rec/events.jsonl", "speed": -1}},
            "source.speed: Input should be greater than or equal to 0",
        ),
        ({"source": {"kind": "events", "path": "nowhere.jsonl"}}, "source.path: no such file"),
        ({"source": {"kind": "telepathy"}}, "source.kind: unknown value 'telepathy'"),
        ({"source": {"path": "x"}}, "source.kind: missing"),
        ({"health": {"host": "0.0.0.0"}}, "health.host: Input should be '127.0.0.1'"),
        (
            {"uplink": {"offline": {"base_s": 5, "cap_s": 1}}},
            "uplink.offline: cap_s must not be below base_s",
        ),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(
    tmp_path: Path, base: dict[str, Any], change: dict[str, Any], expected: str
) -> None:
    data = {**base, **change}
    message = _error(tmp_path, data)
    assert f"edge.yaml: {expected}" in message


def test_a_missing_key_and_a_nested_bad_transport_are_named(
    tmp_path: Path, base: dict[str, Any]
) -> None:
    del base["region"]
    assert _error(tmp_path, base).endswith("edge.yaml: region: missing")

    base["region"] = "eu-west-1"
    (tmp_path / "store.json").write_text("{}")
    base["source"] = {
        "kind": "live",
        "store_layout": "store.json",
        "cameras": [{"id": "cam-1", "url": "rtsp://x"}],
        "loadcells": {"transport": "serial", "device": "/dev/ttyUSB0", "baud": 12},
        "gates": {"transport": "tcp", "host": "h", "port": 1},
    }
    assert "source.loadcells.baud: Input should be greater than or equal to 300" in _error(
        tmp_path, base
    )


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "store_id: a\nregion: [unclosed\n")
    assert "edge.yaml: line" in message and "not valid YAML" in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config"):
        load_config(tmp_path / "absent.yaml")
