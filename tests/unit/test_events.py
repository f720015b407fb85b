"""The wire contract `walkout.event/1`: valid records of every type, and bad ones named."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walkout.events import (
    EVENT_TYPES,
    Event,
    EventError,
    Heartbeat,
    HeartbeatData,
    SessionEntered,
    SessionJoined,
    ShelfChanged,
    TrackAmbiguity,
    TrackExited,
    event_to_dict,
    event_to_json,
    format_timestamp,
    make_event,
    parse_event,
)
from walkout.ids import ALPHABET, ulid_timestamp_ms

EVENT_ID = "01JDQ2ZK8R4V6X0B3C5D7E9F1G"
WIRE_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

DATA: dict[str, dict[str, Any]] = {
    "session.entered": {
        "session_id": "sess-1",
        "gate_id": "gate-in",
        "account_ref": "tok_9f8e7d/+==",
        "track_ids": ["trk-1", "trk-2"],
        "evidence": [
            "stores/store-1/evidence/01JDQ2ZK8R4V6X0B3C5D7E9F1G/entry-trk-1-cam-1.jpg",
            "stores/store-1/evidence/01JDQ2ZK8R4V6X0B3C5D7E9F1G/entry-trk-2-cam-2.jpg",
        ],
    },
    "session.joined": {
        "session_id": "sess-1",
        "track_id": "trk-3",
        "evidence": ["stores/store-1/evidence/01JDQ2ZK8R4V6X0B3C5D7E9F1G/entry-trk-3-cam-1.jpg"],
    },
    "track.exited": {
        "track_id": "trk-1",
        "session_id": None,
        "gate_id": "gate-out",
        "same_person_probability": 0.93,
    },
    "shelf.changed": {
        "shelf_id": "shelf-a1",
        "lane_id": "lane-a1-3",
        "delta_g": -355.2,
        "t_start": "2026-11-25T18:03:10.100Z",
        "t_end": "2026-11-25T18:03:11.900Z",
        "noise_g": 2.5,
        "candidates": [
            {
                "track_id": "trk-1",
                "session_id": "sess-1",
                "reach_score": 0.92,
                "distance_m": 0.3,
                "same_person_probability": 0.97,
            },
            {
                "track_id": "trk-7",
                "session_id": None,
                "reach_score": 0.05,
                "distance_m": 1.4,
                "same_person_probability": None,
            },
        ],
        "evidence": ["store-042/2026-11-25/cam-3/18-03-11.jpg"],
    },
    "track.ambiguity": {
        "track_ids": ["trk-1", "trk-2"],
        "t_start": "2026-11-25T18:03:00.000Z",
        "t_end": "2026-11-25T18:03:02.500Z",
        "swap_probability": 0.3,
    },
    "heartbeat": {
        "watermark_ts": "2026-11-25T18:03:11.000Z",
        "outbox_depth": 12,
        "cameras_ok": False,
        "loadcells_ok": True,
        "faults": ["cam-3"],
    },
}
MODELS = {
    "session.entered": SessionEntered,
    "session.joined": SessionJoined,
    "track.exited": TrackExited,
    "shelf.changed": ShelfChanged,
    "track.ambiguity": TrackAmbiguity,
    "heartbeat": Heartbeat,
}


def record(type_: str = "shelf.changed", **envelope: Any) -> dict[str, Any]:
    """A valid record of `type_` as a decoded JSON object, with envelope overrides."""
    return {
        "schema": "walkout.event/1",
        "event_id": EVENT_ID,
        "store_id": "store-042",
        "device_id": "edge-1",
        "seq": 1842,
        "ts": "2026-11-25T18:03:12.345Z",
        "type": type_,
        "data": copy.deepcopy(DATA[type_]),
        **envelope,
    }


def rejected(raw: Any) -> str:
    with pytest.raises(EventError) as caught:
        parse_event(raw)
    return str(caught.value)


# --- valid records ---------------------------------------------------------------------------


def test_every_type_of_the_design_has_a_model() -> None:
    assert set(EVENT_TYPES) == set(DATA) == set(MODELS)


@pytest.mark.parametrize("type_", EVENT_TYPES)
@pytest.mark.parametrize("form", ["bytes", "str", "dict"])
def test_a_valid_record_of_each_type_parses_into_its_model(type_: str, form: str) -> None:
    # Given a valid record of this type, as it arrives (bytes, text or decoded)
    raw_dict = record(type_)
    text = json.dumps(raw_dict)
    raw: Any = {"bytes": text.encode(), "str": text, "dict": raw_dict}[form]
    # When it is parsed
    event = parse_event(raw)
    # Then it is the type's model with the envelope as sent
    assert isinstance(event, MODELS[type_])
    assert event.type == type_
    assert event.event_id == EVENT_ID
    assert event.seq == 1842
    assert event.ts == datetime(2026, 11, 25, 18, 3, 12, 345_000, tzinfo=UTC)


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_a_record_is_written_back_exactly_as_it_was_received(type_: str) -> None:
    # Given a record in the contract's canonical form (compact, Z timestamps)
    canonical = json.dumps(record(type_), separators=(",", ":")).encode()
    # When it is parsed and written again
    written = event_to_json(parse_event(canonical))
    # Then the bytes are the same
    assert written == canonical


def test_heartbeat_faults_are_optional() -> None:
    raw = record("heartbeat")
    del raw["data"]["faults"]
    event = parse_event(raw)
    assert isinstance(event, Heartbeat)
    assert event.data.faults == []


def test_a_utc_offset_written_as_plus_zero_is_utc() -> None:
    event = parse_event(record(ts="2026-11-25T18:03:12.345+00:00"))
    assert event.ts == datetime(2026, 11, 25, 18, 3, 12, 345_000, tzinfo=UTC)
    assert b'"ts":"2026-11-25T18:03:12.345Z"' in event_to_json(event)


def test_sub_millisecond_digits_are_truncated_not_rounded() -> None:
    # Given a timestamp a hair before the next second
    event = parse_event(record(ts="2026-11-25T18:03:12.999999999Z"))
    # Then it stays in its second, at millisecond precision
    assert event.ts == datetime(2026, 11, 25, 18, 3, 12, 999_000, tzinfo=UTC)


def test_python_datetimes_in_a_decoded_record_are_accepted_if_utc() -> None:
    when = datetime(2026, 11, 25, 18, 3, 12, 345_678, tzinfo=UTC)
    event = parse_event(record(ts=when))
    assert event.ts == when.replace(microsecond=345_000)


def test_a_track_exit_without_session_carries_an_explicit_null() -> None:
    event = parse_event(record("track.exited"))
    assert isinstance(event, TrackExited)
    assert event.data.session_id is None
    assert b'"session_id":null' in event_to_json(event)


@pytest.mark.parametrize("type_", ["session.entered", "session.joined"])
def test_a_session_names_its_peoples_looks_at_the_gate_or_none(type_: str) -> None:
    event = parse_event(record(type_))
    assert isinstance(event, SessionEntered | SessionJoined)
    assert event.data.evidence == DATA[type_]["evidence"]
    # An edge that uploads no looks says nothing of them
    older = {k: v for k, v in DATA[type_].items() if k != "evidence"}
    event = parse_event(record(type_, data=older))
    assert isinstance(event, SessionEntered | SessionJoined)
    assert event.data.evidence == []


def test_a_candidate_says_how_likely_its_track_was_on_its_sessions_person() -> None:
    event = parse_event(record("shelf.changed"))
    assert isinstance(event, ShelfChanged)
    assert [c.same_person_probability for c in event.data.candidates] == [0.97, None]
    # An edge that does not check says nothing of it
    older = json.loads(json.dumps(DATA["shelf.changed"]))
    for cand in older["candidates"]:
        del cand["same_person_probability"]
    event = parse_event(record("shelf.changed", data=older))
    assert isinstance(event, ShelfChanged)
    assert [c.same_person_probability for c in event.data.candidates] == [None, None]
    # and a value that is no probability is refused, naming the field
    older["candidates"][0]["same_person_probability"] = -0.1
    assert "data.candidates[0].same_person_probability" in rejected(
        record("shelf.changed", data=older)
    )


def test_an_exit_says_how_likely_the_person_leaving_is_who_entered_a_probability() -> None:
    event = parse_event(record("track.exited"))
    assert isinstance(event, TrackExited)
    assert event.data.same_person_probability == 0.93
    # An edge that does not judge who left says nothing of it
    older = {k: v for k, v in DATA["track.exited"].items() if k != "same_person_probability"}
    event = parse_event(record("track.exited", data=older))
    assert isinstance(event, TrackExited)
    assert event.data.same_person_probability is None
    # and a value that is no probability is refused, naming the field
    wrong = {**older, "same_person_probability": 1.5}
    assert "data.same_person_probability" in rejected(record("track.exited", data=wrong))


# --- invalid records -------------------------------------------------------------------------


def test_an_unknown_type_is_named_with_the_known_ones() -> None:
    message = rejected(record(type="shelf.exploded"))
    assert message.startswith("type: unknown event type 'shelf.exploded' (known: ")
    assert "shelf.changed" in message


def test_a_record_without_type_says_so() -> None:
    raw = record()
    del raw["type"]
    assert rejected(raw) == "type: Field required"


def test_a_non_string_type_says_so() -> None:
    assert rejected(record(type=7)).startswith("type: must be a string")


def test_data_of_another_type_is_rejected_naming_the_fields() -> None:
    # Given a heartbeat's data under a shelf.changed type
    raw = record("shelf.changed", data=copy.deepcopy(DATA["heartbeat"]))
    # Then the first missing shelf field is named, with the count of the others
    message = rejected(raw)
    assert message.startswith("data.shelf_id: Field required (and ")


def test_a_missing_data_field_is_named() -> None:
    raw = record()
    del raw["data"]["delta_g"]
    assert rejected(raw) == "data.delta_g: Field required"


def test_a_missing_envelope_field_is_named() -> None:
    raw = record()
    del raw["seq"]
    assert rejected(raw) == "seq: Field required"


@pytest.mark.parametrize(
    ("where", "ts", "expected"),
    [
        ("ts", "2026-11-25T20:03:12.345+02:00", "ts: must be UTC (offset +02:00 given)"),
        ("ts", "2026-11-25T18:03:12.345", "ts: must be an ISO 8601 UTC timestamp"),
        ("ts", datetime(2026, 11, 25, 18, 3, 12), "ts: must be UTC: a timestamp without offset"),
        (
            "ts",
            datetime(2026, 11, 25, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
            "ts: must be UTC (offset -05:30 given)",
        ),
        ("ts", "2026-11-25", "ts: must be an ISO 8601 UTC timestamp"),
        ("ts", 1_795_651_225, "ts: must be an ISO 8601 UTC timestamp"),
        ("ts", "1795651225", "ts: must be an ISO 8601 UTC timestamp"),
        ("ts", "2026-02-30T00:00:00.000Z", "ts: not a valid date or time"),
        ("t_start", "2026-11-25T19:03:10.100+01:00", "data.t_start: must be UTC"),
        ("t_end", "2026-11-25T18:03:11.900", "data.t_end: must be an ISO 8601 UTC"),
    ],
)
def test_a_timestamp_that_is_not_utc_is_rejected_naming_the_field(
    where: str, ts: Any, expected: str
) -> None:
    # Given a record whose timestamp is naive, offset, a bare date, a Unix time or impossible
    raw = record()
    if where == "ts":
        raw["ts"] = ts
    else:
        raw["data"][where] = ts
    # Then the message names the field and says what is wrong
    assert rejected(raw).startswith(expected)


def test_a_naive_timestamp_in_a_heartbeat_names_the_watermark() -> None:
    raw = record("heartbeat")
    raw["data"]["watermark_ts"] = "2026-11-25T18:03:11.000"
    assert rejected(raw).startswith("data.watermark_ts: must be an ISO 8601 UTC timestamp")


@pytest.mark.parametrize(
    "event_id",
    [
        "01jdq2zk8r4v6x0b3c5d7e9f1g",
        "01JDQ2ZK8R4V6X0B3C5D7E9F1",
        "01JDQ2ZK8R4V6X0B3C5D7E9F1U",
        "9f1c2e4a-8b7d-4c3e-9a1b-2c3d4e5f6a7b",
    ],
)
def test_an_event_id_that_is_not_a_ulid_is_rejected(event_id: str) -> None:
    assert rejected(record(event_id=event_id)).startswith("event_id: must be a ULID")


def test_an_unknown_envelope_field_is_named() -> None:
    assert rejected(record(priority="high")) == "priority: unknown field"


def test_an_unknown_data_field_is_named() -> None:
    raw = record()
    raw["data"]["weight_g"] = 355
    assert rejected(raw) == "data.weight_g: unknown field"


def test_an_unknown_field_in_a_candidate_is_named_with_its_index() -> None:
    raw = record()
    raw["data"]["candidates"][1]["confidence"] = 0.5
    assert rejected(raw) == "data.candidates[1].confidence: unknown field"


def test_the_python_name_of_the_schema_field_is_not_accepted_on_the_wire() -> None:
    raw = record()
    raw["schema_"] = raw.pop("schema")
    assert rejected(raw).startswith("schema: Field required")


def test_another_schema_version_is_rejected() -> None:
    message = rejected(record(schema="walkout.event/2"))
    assert message == "schema: unsupported schema 'walkout.event/2' (expected 'walkout.event/1')"


@pytest.mark.parametrize("score", [1.5, -0.01])
def test_a_reach_score_outside_zero_to_one_is_rejected(score: float) -> None:
    raw = record()
    raw["data"]["candidates"][0]["reach_score"] = score
    assert rejected(raw).startswith("data.candidates[0].reach_score: Input should be")


def test_a_swap_probability_above_one_is_rejected() -> None:
    raw = record("track.ambiguity")
    raw["data"]["swap_probability"] = 1.01
    assert rejected(raw).startswith("data.swap_probability: Input should be less than or equal")


@pytest.mark.parametrize("type_", ["shelf.changed", "track.ambiguity"])
def test_an_interval_ending_before_it_starts_is_rejected(type_: str) -> None:
    raw = record(type_)
    raw["data"]["t_start"], raw["data"]["t_end"] = raw["data"]["t_end"], raw["data"]["t_start"]
    assert rejected(raw).startswith("data.t_end: t_end ")
    assert "is before t_start" in rejected(raw)


def test_an_instant_interval_is_accepted() -> None:
    raw = record()
    raw["data"]["t_end"] = raw["data"]["t_start"]
    assert isinstance(parse_event(raw), ShelfChanged)


def test_a_zero_weight_change_is_rejected() -> None:
    raw = record()
    raw["data"]["delta_g"] = 0.0
    assert rejected(raw) == "data.delta_g: must not be 0 (a change has a sign)"


def test_negative_noise_and_distance_are_rejected() -> None:
    raw = record()
    raw["data"]["noise_g"] = -1.0
    raw["data"]["candidates"][0]["distance_m"] = -0.1
    problems = dict(_problems(raw))
    assert "data.noise_g" in problems
    assert "data.candidates[0].distance_m" in problems


def test_a_non_finite_weight_change_is_rejected() -> None:
    # Python's json module writes NaN, so an agent could send it
    text = json.dumps(record()).replace("-355.2", "NaN")
    assert rejected(text).startswith("data.delta_g: ")


@pytest.mark.parametrize(
    ("type_", "field", "value", "expected"),
    [
        ("session.entered", "track_ids", [], "data.track_ids: List should have at least 1"),
        ("session.entered", "track_ids", ["t1", "t1"], "data.track_ids: track ids repeat: t1"),
        ("track.ambiguity", "track_ids", ["t1", "t1"], "data.track_ids: track ids repeat: t1"),
        ("track.ambiguity", "track_ids", ["t1"], "data.track_ids: List should have at least 2"),
        ("track.ambiguity", "track_ids", ["a", "b", "c"], "data.track_ids: List should have at"),
        ("heartbeat", "outbox_depth", -1, "data.outbox_depth: Input should be greater than"),
        ("heartbeat", "cameras_ok", 1, "data.cameras_ok: Input should be a valid boolean"),
        ("heartbeat", "cameras_ok", "true", "data.cameras_ok: Input should be a valid boolean"),
        ("session.joined", "track_id", "", "data.track_id: String should have at least 1"),
        ("session.joined", "track_id", "a/b", "data.track_id: String should match pattern"),
        ("shelf.changed", "delta_g", "-355.2", "data.delta_g: Input should be a valid number"),
        ("shelf.changed", "evidence", [""], "data.evidence[0]: String should have at least 1"),
    ],
)
def test_bad_data_values_are_rejected_naming_the_field(
    type_: str, field: str, value: Any, expected: str
) -> None:
    raw = record(type_)
    raw["data"][field] = value
    assert rejected(raw).startswith(expected)


def test_the_same_candidate_twice_is_rejected() -> None:
    raw = record()
    raw["data"]["candidates"][1]["track_id"] = "trk-1"
    assert rejected(raw) == "data.candidates: candidate track ids repeat: trk-1"


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        ("1842", "seq: Input should be a valid integer"),
        (True, "seq: Input should be a valid integer"),
        (1842.0, "seq: Input should be a valid integer"),
        (-1, "seq: Input should be greater than or equal to 0"),
    ],
)
def test_seq_must_be_a_non_negative_integer_not_a_lookalike(seq: Any, expected: str) -> None:
    assert rejected(record(seq=seq)) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{not json", "event: not valid JSON: "),
        (b"[1, 2]", "event: must be a JSON object"),
        ("", "event: not valid JSON: "),
    ],
)
def test_a_record_that_is_not_a_json_object_is_rejected(raw: Any, expected: str) -> None:
    assert rejected(raw).startswith(expected)


def test_an_event_error_is_a_value_error_listing_every_problem() -> None:
    # Given a record with three problems
    raw = record(seq=-1, store_id="")
    del raw["data"]["lane_id"]
    # When it is parsed
    with pytest.raises(ValueError, match=r"\(and 2 more\)") as caught:
        parse_event(raw)
    # Then every problem is available with its field, for a quarantine reason
    assert isinstance(caught.value, EventError)
    assert caught.value.field == "store_id"
    assert [f for f, _ in caught.value.problems] == ["store_id", "seq", "data.lane_id"]


def _problems(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(EventError) as caught:
        parse_event(raw)
    return caught.value.problems


# --- building events -------------------------------------------------------------------------


def test_make_event_fills_in_a_fresh_id_and_matching_time() -> None:
    # When an edge agent builds a heartbeat without id or time
    event = make_event(
        "heartbeat",
        HeartbeatData(
            watermark_ts=datetime(2026, 11, 25, 18, 3, tzinfo=UTC),
            outbox_depth=0,
            cameras_ok=True,
            loadcells_ok=True,
        ),
        store_id="store-042",
        device_id="edge-1",
        seq=7,
    )
    # Then the event id is a ULID carrying exactly the event's time
    assert isinstance(event, Heartbeat)
    assert event.schema_ == "walkout.event/1"
    assert ulid_timestamp_ms(event.event_id) == int(event.ts.timestamp() * 1000)
    assert abs(event.ts - datetime.now(UTC)) < timedelta(minutes=1)


def test_make_event_with_a_time_stamps_the_id_with_it() -> None:
    # Given a simulated time
    when = datetime(2026, 11, 25, 18, 3, 12, 345_678, tzinfo=UTC)
    # When an event is built for it
    event = make_event(
        "shelf.changed", DATA["shelf.changed"], store_id="s", device_id="d", seq=0, ts=when
    )
    # Then its time and its id's time are that instant in milliseconds
    assert event.ts == when.replace(microsecond=345_000)
    assert ulid_timestamp_ms(event.event_id) == int(event.ts.timestamp() * 1000)


def test_make_event_keeps_a_given_id() -> None:
    event = make_event(
        "session.joined",
        DATA["session.joined"],
        store_id="s",
        device_id="d",
        seq=0,
        event_id=EVENT_ID,
    )
    assert event.event_id == EVENT_ID


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"type_": "shelf.exploded"}, "type: unknown event type 'shelf.exploded'"),
        ({"ts": datetime(2026, 1, 1)}, "ts: must be UTC"),
        ({"ts": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2)))}, "ts: must be UTC"),
        ({"seq": -3}, "seq: Input should be greater"),
        ({"event_id": "nope"}, "event_id: must be a ULID"),
    ],
)
def test_make_event_rejects_bad_input_like_parse_event(
    kwargs: dict[str, Any], expected: str
) -> None:
    arguments: dict[str, Any] = {
        "type_": "session.joined",
        "data": DATA["session.joined"],
        "store_id": "s",
        "device_id": "d",
        "seq": 0,
        **kwargs,
    }
    with pytest.raises(EventError, match=re.escape(expected)):
        make_event(**arguments)


def test_event_to_dict_is_the_json_form() -> None:
    event = parse_event(record())
    assert event_to_dict(event) == json.loads(event_to_json(event))


def test_format_timestamp_pads_early_years_and_refuses_naive_times() -> None:
    assert (
        format_timestamp(datetime(7, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)) == "0007-01-02T03:04:05.006Z"
    )
    with pytest.raises(ValueError, match="naive"):
        format_timestamp(datetime(2026, 1, 1))


# --- property: any valid event survives a JSON round trip ----------------------------------

identifiers = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,24}", fullmatch=True)
ulids = st.tuples(
    st.sampled_from("01234567"), st.text(alphabet=ALPHABET, min_size=25, max_size=25)
).map("".join)
timestamps = st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
)
finite = st.floats(allow_nan=False, allow_infinity=False)
non_negative = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
probabilities = st.floats(min_value=0.0, max_value=1.0)
intervals = st.lists(timestamps, min_size=2, max_size=2).map(sorted)

candidates = st.fixed_dictionaries(
    {
        "track_id": identifiers,
        "session_id": st.none() | identifiers,
        "reach_score": probabilities,
        "distance_m": non_negative,
    },
    optional={"same_person_probability": st.none() | probabilities},
)
DATA_STRATEGIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "session.entered": st.fixed_dictionaries(
        {
            "session_id": identifiers,
            "gate_id": identifiers,
            "account_ref": st.text(min_size=1, max_size=60),
            "track_ids": st.lists(identifiers, min_size=1, max_size=4, unique=True),
        }
    ),
    "session.joined": st.fixed_dictionaries({"session_id": identifiers, "track_id": identifiers}),
    "track.exited": st.fixed_dictionaries(
        {"track_id": identifiers, "session_id": st.none() | identifiers, "gate_id": identifiers},
        optional={"same_person_probability": st.none() | probabilities},
    ),
    "shelf.changed": st.builds(
        lambda base, interval: {**base, "t_start": interval[0], "t_end": interval[1]},
        st.fixed_dictionaries(
            {
                "shelf_id": identifiers,
                "lane_id": identifiers,
                "delta_g": finite.filter(lambda g: g != 0),
                "noise_g": non_negative,
                "candidates": st.lists(candidates, max_size=4, unique_by=lambda c: c["track_id"]),
                "evidence": st.lists(st.text(min_size=1, max_size=80), max_size=3),
            }
        ),
        intervals,
    ),
    "track.ambiguity": st.builds(
        lambda ids, interval, p: {
            "track_ids": ids,
            "t_start": interval[0],
            "t_end": interval[1],
            "swap_probability": p,
        },
        st.lists(identifiers, min_size=2, max_size=2, unique=True),
        intervals,
        probabilities,
    ),
    "heartbeat": st.fixed_dictionaries(
        {
            "watermark_ts": timestamps,
            "outbox_depth": st.integers(min_value=0, max_value=2**63),
            "cameras_ok": st.booleans(),
            "loadcells_ok": st.booleans(),
        },
        optional={"faults": st.lists(identifiers, max_size=3)},
    ),
}


@st.composite
def valid_events(draw: st.DrawFn) -> Event:
    type_ = draw(st.sampled_from(EVENT_TYPES))
    return parse_event(
        {
            "schema": "walkout.event/1",
            "event_id": draw(ulids),
            "store_id": draw(identifiers),
            "device_id": draw(identifiers),
            "seq": draw(st.integers(min_value=0, max_value=2**63)),
            "ts": draw(timestamps),
            "type": type_,
            "data": draw(DATA_STRATEGIES[type_]),
        }
    )


@settings(max_examples=400, deadline=None)
@given(valid_events())
def test_any_valid_event_survives_a_json_round_trip(event: Event) -> None:
    # When a valid event is written and read back
    written = event_to_json(event)
    again = parse_event(written)
    # Then it is equal, writes the same bytes, and every timestamp has the wire format
    assert again == event
    assert event_to_json(again) == written
    decoded = json.loads(written)
    stamps = [decoded["ts"]] + [
        v for k, v in decoded["data"].items() if k in {"t_start", "t_end", "watermark_ts"}
    ]
    assert all(WIRE_TS.match(s) for s in stamps)
    # And the decoded object parses to the same event too (the Lambda's dict path)
    assert parse_event(decoded) == event
