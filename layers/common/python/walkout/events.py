"""The wire contract `walkout.event/1`: what an edge agent sends and the cloud accepts.

Every record is one JSON object, an envelope with typed `data` chosen by `type` (DESIGN.md
§3). Validation is strict on purpose: a record that an older or buggy agent sent with a
field the cloud does not know, a number in a string or a local-time timestamp is
quarantined with a reason instead of being half-understood.

Models run in strict mode (no "1" for 1, no 1 for true). Timestamps are the exception that
needs its own parser, because a Python dict from `json.loads` carries them as strings.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from walkout._base import Identifier, Model
from walkout.ids import is_ulid, new_ulid, ulid_timestamp_ms

EVENT_SCHEMA: Final = "walkout.event/1"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# --- field types ---------------------------------------------------------------------------

# Seconds may carry any fraction; anything else about the shape is fixed, so that "1700000000"
# (a Unix time) or "2026-11-25" (a date) never passes for a timestamp.
_TIMESTAMP_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})"
)
_FRACTION_RE = re.compile(r"\.(\d+)")


def _utc_ms(value: datetime) -> datetime:
    offset = value.utcoffset()
    if offset is None:
        raise PydanticCustomError(
            "utc_timestamp", "must be UTC: a timestamp without offset is ambiguous"
        )
    if offset:
        total = int(offset.total_seconds())
        hours, rest = divmod(abs(total), 3600)
        minutes, seconds = divmod(rest, 60)
        given = f"{'+' if total > 0 else '-'}{hours:02d}:{minutes:02d}"
        given += f":{seconds:02d}" if seconds else ""
        raise PydanticCustomError(
            "utc_timestamp", "must be UTC (offset {offset} given)", {"offset": given}
        )
    # Millisecond precision is the contract; truncating (not rounding) keeps a timestamp from
    # moving into the next second or past a watermark.
    return value.replace(tzinfo=UTC, microsecond=value.microsecond - value.microsecond % 1000)


def _parse_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return _utc_ms(value)
    if not isinstance(value, str) or not _TIMESTAMP_RE.fullmatch(value):
        raise PydanticCustomError(
            "timestamp_format", "must be an ISO 8601 UTC timestamp like 2026-11-25T18:03:12.345Z"
        )
    text = value
    fraction = _FRACTION_RE.search(text)
    if fraction and len(fraction.group(1)) > 6:
        # datetime keeps microseconds at most; digits beyond are below the contract anyway.
        text = text[: fraction.start() + 7] + text[fraction.end() :]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PydanticCustomError(
            "timestamp_value", "not a valid date or time: {error}", {"error": str(exc)}
        ) from None
    return _utc_ms(parsed)


def parse_timestamp(text: str) -> datetime:
    """A timestamp `format_timestamp` wrote, back as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def format_timestamp(value: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ`, the only way Walkout writes a timestamp."""
    if value.utcoffset() is None:
        raise ValueError("format_timestamp: a naive datetime has no defined UTC time")
    v = value.astimezone(UTC)
    # By hand rather than strftime: `%Y` does not zero-pad years before 1000 on glibc.
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
        f".{v.microsecond // 1000:03d}Z"
    )


UtcTimestamp = Annotated[
    datetime,
    PlainValidator(_parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]00:00)$",
            "description": "UTC, millisecond precision, written as YYYY-MM-DDTHH:MM:SS.mmmZ",
        }
    ),
]
"""A timezone-aware UTC datetime kept at millisecond precision; naive or offset input fails."""


def _check_ulid(value: str) -> str:
    if not is_ulid(value):
        raise PydanticCustomError(
            "ulid", "must be a ULID (26 upper-case Crockford base32 characters)"
        )
    return value


Ulid = Annotated[
    str,
    AfterValidator(_check_ulid),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-7][0-9A-HJKMNP-TV-Z]{25}$",
            "description": "a ULID: 48-bit millisecond time + 80 random bits, Crockford base32",
        }
    ),
]
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Grams = Annotated[float, Field(allow_inf_nan=False)]
# S3 caps a key at 1,024 bytes.
S3Key = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
# The gate scanner's token for the shopper's account; never a name or card number.
AccountRef = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class WireModel(Model):
    """Strict, frozen, unknown-field-rejecting base of everything on the wire."""

    model_config = ConfigDict(strict=True, validate_by_name=False, validate_by_alias=True)


def _unique(ids: list[str], what: str) -> list[str]:
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise PydanticCustomError(
            "unique", "{what} repeat: {ids}", {"what": what, "ids": ", ".join(repeated)}
        )
    return ids


def _not_before_start(t_end: datetime, info: ValidationInfo) -> datetime:
    t_start = info.data.get("t_start")
    if t_start is not None and t_end < t_start:
        raise PydanticCustomError(
            "interval",
            "t_end {t_end} is before t_start {t_start}",
            {"t_end": format_timestamp(t_end), "t_start": format_timestamp(t_start)},
        )
    return t_end


# --- data of each event type ---------------------------------------------------------------


class SessionEnteredData(WireModel):
    """A scan at an entry gate opened a visit; `track_ids` passed the gate under it."""

    session_id: Identifier
    gate_id: Identifier
    account_ref: AccountRef
    track_ids: Annotated[list[Identifier], Field(min_length=1)]
    # Each member's look as the gate cameras saw them (one image per track, S3 keys under
    # the event's evidence prefix): whom reviewers recognise on a shelf event's images.
    evidence: list[S3Key] = Field(default_factory=list)

    @field_validator("track_ids")
    @classmethod
    def _distinct_tracks(cls, value: list[str]) -> list[str]:
        return _unique(value, "track ids")


class SessionJoinedData(WireModel):
    """One more member of a group, bound to the session after entering."""

    session_id: Identifier
    track_id: Identifier
    evidence: list[S3Key] = Field(default_factory=list)  # the member's look, as above


class TrackExitedData(WireModel):
    """A person left; `session_id` is null for a track never bound to a session.

    `same_person_probability`: how likely the person leaving is one who came in under the
    track's session (the one the track was born on, or another of its group), from how
    they look at the exit against how those people looked at the gate, and from any doubt
    the gate had about the track's binding; null when the edge could not compare. A low
    value means the track most likely followed somebody from outside the session by the
    end of the visit."""

    track_id: Identifier
    session_id: Identifier | None
    gate_id: Identifier
    same_person_probability: Probability | None = None


class Candidate(WireModel):
    """A person who was reaching near the lane while its weight changed.

    `same_person_probability`: how likely the person the track followed during the change
    is one who came in under its session, from how they looked then against how those
    people looked at the gate and the encounters the tracker reported for the track by
    then; null when the edge could not compare (or the track has no session)."""

    track_id: Identifier
    session_id: Identifier | None
    reach_score: Probability
    distance_m: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    same_person_probability: Probability | None = None


class ShelfChangedData(WireModel):
    """A settled weight change on one lane (negative: taken, positive: returned)."""

    shelf_id: Identifier
    lane_id: Identifier
    delta_g: Grams
    t_start: UtcTimestamp
    t_end: UtcTimestamp
    noise_g: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    candidates: list[Candidate]
    evidence: list[S3Key]

    @field_validator("delta_g")
    @classmethod
    def _nonzero(cls, value: float) -> float:
        if value == 0:
            raise PydanticCustomError("nonzero", "must not be 0 (a change has a sign)")
        return value

    @field_validator("t_end")
    @classmethod
    def _ordered(cls, value: datetime, info: ValidationInfo) -> datetime:
        return _not_before_start(value, info)

    @field_validator("candidates")
    @classmethod
    def _distinct_candidates(cls, value: list[Candidate]) -> list[Candidate]:
        _unique([c.track_id for c in value], "candidate track ids")
        return value


class TrackAmbiguityData(WireModel):
    """Two people were too close to tell apart; their identities may have swapped."""

    track_ids: Annotated[list[Identifier], Field(min_length=2, max_length=2)]
    t_start: UtcTimestamp
    t_end: UtcTimestamp
    swap_probability: Probability

    @field_validator("track_ids")
    @classmethod
    def _distinct_tracks(cls, value: list[str]) -> list[str]:
        return _unique(value, "track ids")

    @field_validator("t_end")
    @classmethod
    def _ordered(cls, value: datetime, info: ValidationInfo) -> datetime:
        return _not_before_start(value, info)


class HeartbeatData(WireModel):
    """Everything this device observed before `watermark_ts` has been sent."""

    watermark_ts: UtcTimestamp
    outbox_depth: Annotated[int, Field(ge=0)]
    cameras_ok: bool
    loadcells_ok: bool
    faults: list[Identifier] = Field(default=[], description="ids of the failing sensors")


# --- envelopes -----------------------------------------------------------------------------


class _Envelope(WireModel):
    schema_: Literal["walkout.event/1"] = Field(alias="schema")
    event_id: Ulid
    store_id: Identifier
    device_id: Identifier
    seq: Annotated[int, Field(ge=0, description="strictly increasing per device")]
    ts: UtcTimestamp


class SessionEntered(_Envelope):
    type: Literal["session.entered"]
    data: SessionEnteredData


class SessionJoined(_Envelope):
    type: Literal["session.joined"]
    data: SessionJoinedData


class TrackExited(_Envelope):
    type: Literal["track.exited"]
    data: TrackExitedData


class ShelfChanged(_Envelope):
    type: Literal["shelf.changed"]
    data: ShelfChangedData


class TrackAmbiguity(_Envelope):
    type: Literal["track.ambiguity"]
    data: TrackAmbiguityData


class Heartbeat(_Envelope):
    type: Literal["heartbeat"]
    data: HeartbeatData


Event: TypeAlias = Annotated[
    SessionEntered | SessionJoined | TrackExited | ShelfChanged | TrackAmbiguity | Heartbeat,
    Field(discriminator="type"),
]
EventData: TypeAlias = (
    SessionEnteredData
    | SessionJoinedData
    | TrackExitedData
    | ShelfChangedData
    | TrackAmbiguityData
    | HeartbeatData
)

EVENT_MODELS: Final[dict[str, type[_Envelope]]] = {
    "session.entered": SessionEntered,
    "session.joined": SessionJoined,
    "track.exited": TrackExited,
    "shelf.changed": ShelfChanged,
    "track.ambiguity": TrackAmbiguity,
    "heartbeat": Heartbeat,
}
EVENT_TYPES: Final[tuple[str, ...]] = tuple(EVENT_MODELS)

# Built once per process: building the validator is the expensive part, not using it.
EVENT_ADAPTER: Final[TypeAdapter[Event]] = TypeAdapter(Event)


# --- parsing and writing -------------------------------------------------------------------


class EventError(ValueError):
    """A record that is not a valid `walkout.event/1`; the message names field and problem.

    `problems` lists every (field path, problem) found, the message only the first ones.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        first_field, first_problem = problems[0]
        message = f"{first_field}: {first_problem}"
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more)"
        super().__init__(message)

    @property
    def field(self) -> str:
        return self.problems[0][0]


def _path(loc: tuple[int | str, ...]) -> str:
    # A discriminated union puts the tag first in the location; it is the value of `type`,
    # not a field, so it is dropped.
    if loc and loc[0] in EVENT_MODELS:
        loc = loc[1:]
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "event"


def _problem(error: Any) -> tuple[str, str]:
    kind = error["type"]
    where = _path(error["loc"])
    if kind == "union_tag_invalid":
        tag = error["input"].get("type")
        if not isinstance(tag, str):
            return "type", "must be a string naming the event type"
        return "type", f"unknown event type {tag!r} (known: {', '.join(EVENT_TYPES)})"
    if kind == "union_tag_not_found":
        return "type", "Field required"
    if kind == "extra_forbidden":
        return where, "unknown field"
    if kind == "literal_error" and where == "schema":
        return where, f"unsupported schema {error['input']!r} (expected {EVENT_SCHEMA!r})"
    if kind in {"json_invalid", "json_type"}:
        return "event", f"not valid JSON: {error.get('ctx', {}).get('error', error['msg'])}"
    if kind in {"model_attributes_type", "dict_type", "model_type"} and where == "event":
        return where, "must be a JSON object"
    return where, str(error["msg"])


def _raise_event_error(exc: ValidationError) -> EventError:
    return EventError([_problem(e) for e in exc.errors(include_url=False)])


def parse_event(raw: bytes | bytearray | str | dict[str, Any]) -> Event:
    """Validate one record (JSON text or an already-decoded object) into its event model."""
    try:
        if isinstance(raw, dict):
            return EVENT_ADAPTER.validate_python(raw)
        return EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise _raise_event_error(exc) from None


def event_to_json(event: Event) -> bytes:
    """Compact JSON of an event; `parse_event` of it gives back an equal event."""
    return EVENT_ADAPTER.dump_json(event, by_alias=True)


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON-ready dict of an event (timestamps as strings), e.g. for a DynamoDB item."""
    result: dict[str, Any] = EVENT_ADAPTER.dump_python(event, mode="json", by_alias=True)
    return result


def utc_now() -> datetime:
    """The current time at the contract's precision."""
    return _utc_ms(datetime.now(UTC))


def make_event(
    type_: str,
    data: EventData | dict[str, Any],
    *,
    store_id: str,
    device_id: str,
    seq: int,
    ts: datetime | None = None,
    event_id: str | None = None,
) -> Event:
    """Build and validate an event; `ts` and `event_id` default to now and a fresh ULID.

    When only `ts` is given, the ULID carries that time, so ids of replayed or simulated
    events sort like their timestamps. Invalid input raises `EventError`.
    """
    if event_id is None:
        if ts is None:
            event_id = new_ulid()
            ts = _EPOCH + timedelta(milliseconds=ulid_timestamp_ms(event_id))
        else:
            if ts.utcoffset() is None:
                raise EventError([("ts", "must be UTC: a timestamp without offset is ambiguous")])
            event_id = new_ulid(ts)
    elif ts is None:
        ts = utc_now()
    payload = data.model_dump() if isinstance(data, WireModel) else data
    return parse_event(
        {
            "schema": EVENT_SCHEMA,
            "event_id": event_id,
            "store_id": store_id,
            "device_id": device_id,
            "seq": seq,
            "ts": ts,
            "type": type_,
            "data": payload,
        }
    )
