"""The store box's config file (`walkout-edge run --config FILE`), validated on load.

Every key is documented in docs/edge-install.md. Unknown keys are errors, and so is a
wrong type: a typo in a store's config must stop the daemon with a line naming the key,
not run it with a default nobody meant. Relative paths are relative to the config file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from walkout._base import Identifier, Model
from walkout_edge.uplink.backoff import DEFAULT_SCHEDULES, Failure, Schedule


class ConfigError(ValueError):
    """A config that cannot be used; the message is one line naming the key."""


def _resolve(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    path = value.expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path


def _existing_file(value: Path) -> Path:
    if not value.is_file():
        raise ValueError(f"no such file: {value}")
    return value


def _existing_dir(value: Path) -> Path:
    if not value.is_dir():
        raise ValueError(f"no such directory: {value}")
    return value


ConfigPath = Annotated[Path, AfterValidator(_resolve)]
ExistingFile = Annotated[Path, AfterValidator(_resolve), AfterValidator(_existing_file)]
ExistingDir = Annotated[Path, AfterValidator(_resolve), AfterValidator(_existing_dir)]
Speed = Annotated[
    float,
    Field(ge=0, le=10_000, description="store seconds per wall second; 0 = as fast as possible"),
]
Host = Annotated[str, StringConstraints(min_length=1, max_length=253)]
Port = Annotated[int, Field(ge=1, le=65_535)]


# --- sources -------------------------------------------------------------------------------


class EventsSourceConfig(Model):
    """Replays recorded walkout.event/1 events (e.g. the output of `walkout-edge replay`)."""

    kind: Literal["events"]
    path: ExistingFile
    evidence_dir: ExistingDir | None = None
    speed: Speed = 1.0
    tail_s: Annotated[float, Field(ge=0, le=86_400)] = 60.0


class ReplaySourceConfig(Model):
    """Runs the perception pipeline on a simulator recording (registered by perception)."""

    kind: Literal["replay"]
    recording: ExistingDir
    speed: Speed = 1.0
    options: dict[str, Any] = Field(default_factory=dict)


class CameraFeed(Model):
    id: Identifier
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="rtsp://… URL, a device path like /dev/video0, or a device index"
    )


class TcpFeed(Model):
    transport: Literal["tcp"]
    host: Host
    port: Port


class SerialFeed(Model):
    transport: Literal["serial"]
    device: Annotated[str, StringConstraints(min_length=1)]
    baud: Annotated[int, Field(ge=300, le=4_000_000)] = 115_200


class MqttFeed(Model):
    transport: Literal["mqtt"]
    host: Host
    port: Port = 1883
    topic: Annotated[str, StringConstraints(min_length=1, max_length=65_535)]
    tls: bool = False


Feed = Annotated[TcpFeed | SerialFeed | MqttFeed, Field(discriminator="transport")]


class LiveSourceConfig(Model):
    """Live cameras, load cells and gates (registered by perception)."""

    kind: Literal["live"]
    store_layout: ExistingFile = Field(description="store.json: layout, calibration, planogram")
    cameras: Annotated[list[CameraFeed], Field(min_length=1)]
    loadcells: Feed
    gates: Feed
    options: dict[str, Any] = Field(default_factory=dict)


SourceConfig = Annotated[
    EventsSourceConfig | ReplaySourceConfig | LiveSourceConfig, Field(discriminator="kind")
]
_UNION_TAGS = frozenset({"events", "replay", "live", "tcp", "serial", "mqtt"})


# --- uplink, health ------------------------------------------------------------------------


class BackoffSettings(Model):
    base_s: Annotated[float, Field(gt=0, le=600)]
    cap_s: Annotated[float, Field(gt=0, le=3_600)]

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> BackoffSettings:
        if self.cap_s < self.base_s:
            raise ValueError("cap_s must not be below base_s")
        return self

    def schedule(self) -> Schedule:
        return Schedule(base_s=self.base_s, cap_s=self.cap_s)


def _backoff_default(failure: Failure) -> BackoffSettings:
    schedule = DEFAULT_SCHEDULES[failure]
    return BackoffSettings(base_s=schedule.base_s, cap_s=schedule.cap_s)


class UplinkSettings(Model):
    outbox_threshold: Annotated[int, Field(ge=1)] = 10_000
    linger_s: Annotated[float, Field(ge=0, le=5)] = 0.05
    max_record_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = 1024 * 1024
    throttled: BackoffSettings = Field(default_factory=lambda: _backoff_default(Failure.THROTTLED))
    offline: BackoffSettings = Field(default_factory=lambda: _backoff_default(Failure.OFFLINE))
    rejected: BackoffSettings = Field(default_factory=lambda: _backoff_default(Failure.REJECTED))
    connect_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    read_timeout_s: Annotated[float, Field(gt=0, le=300)] = 15.0
    shutdown_flush_s: Annotated[float, Field(ge=0, le=600)] = 10.0

    def schedules(self) -> dict[Failure, Schedule]:
        return {
            Failure.THROTTLED: self.throttled.schedule(),
            Failure.OFFLINE: self.offline.schedule(),
            Failure.REJECTED: self.rejected.schedule(),
        }


class HealthSettings(Model):
    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65_535, description="0 picks a free port")] = 8787


_BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"


class EdgeConfig(Model):
    store_id: Identifier
    device_id: Identifier
    region: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")]
    endpoint_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+(/.*)?$")] | None = (
        None
    )
    stream_name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_.-]{1,128}$")]
    evidence_bucket: Annotated[str, StringConstraints(pattern=_BUCKET_NAME)]
    outbox_path: ConfigPath
    heartbeat_s: Annotated[float, Field(gt=0, le=300)] = 1.0
    source: SourceConfig
    uplink: UplinkSettings = Field(default_factory=UplinkSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    log_level: Literal["debug", "info", "warning", "error"] = "info"


# --- loading -------------------------------------------------------------------------------


def _where(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, str) and part in _UNION_TAGS and parts:
            continue  # the tag of a discriminated union, not a key
        parts.append(f"[{part}]" if isinstance(part, int) else part)
    text = ""
    for part in parts:
        text += part if part.startswith("[") or not text else f".{part}"
    return text or "(top level)"


def _problem(error: Any) -> str:
    kind = error["type"]
    where = _where(error["loc"])
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return (
            f"{where}.{ctx.get('discriminator', 'kind').strip(chr(39))}: unknown value "
            f"{ctx.get('tag')!r} (expected one of {ctx.get('expected_tags')})"
        )
    if kind == "union_tag_not_found":
        discriminator = str(error.get("ctx", {}).get("discriminator", "kind")).strip("'")
        return f"{where}.{discriminator}: missing"
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    if kind == "missing":
        return f"{where}: missing"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    return f"{where}: {message}"


def parse_config(data: Any, *, base_dir: Path | None = None, name: str = "config") -> EdgeConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: expected a mapping of keys at the top level")
    try:
        return EdgeConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{name}: {_problem(errors[0])}{more}") from None


def load_config(path: Path) -> EdgeConfig:
    """Read and validate a YAML config; `ConfigError` names the file and the key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{line} not valid YAML ({problem})") from None
    return parse_config(data, base_dir=path.resolve().parent, name=str(path))
