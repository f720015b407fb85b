"""The ingest's per-batch store state: which ambiguities it reads for a shelf change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from ingest_support import STORE, T0, Edge, MotoIngest, failures, moto_ingest, small_definition

from walkout.attribution import Ambiguity, Floor
from walkout.data.sessions import SessionRecord, SessionsTable
from walkout.events import Event
from walkout.ingest import state as state_module
from walkout.ingest.lifecycle import SessionStatus
from walkout.ingest.state import StoreState


@pytest.fixture
def aws() -> Iterator[MotoIngest]:
    yield from moto_ingest()


def _state(aws: MotoIngest) -> StoreState:
    definition = small_definition()
    return StoreState(definition, Floor.of(definition), aws.sessions(), aws.ingest())


def _starts(state: StoreState, at_s: float) -> list[float]:
    read = state.ambiguities(T0 + timedelta(seconds=at_s))
    return sorted((a.t_start - T0).total_seconds() for a in read)


def test_ambiguities_are_read_from_shortly_before_the_first_chargeable_entry(
    aws: MotoIngest,
) -> None:
    # Given s0, who came and was handed over early in the day; s3, who entered at 400 s
    # and has left (closing); s1, who entered at 600 s; and swaps all day long
    edge = Edge()
    response = aws.send(
        [
            edge.entered("s0", ["t0"], at_s=0),
            edge.ambiguity("t0", "tx", 0.3, at_s=11),
            edge.exited("s0", "t0", at_s=20),
            edge.heartbeat(30),
            edge.ambiguity("tx", "ty", 0.3, at_s=201),
            edge.entered("s3", ["t3"], at_s=400),
            edge.entered("s1", ["t1"], at_s=600),
            edge.ambiguity("t1", "t3", 0.3, at_s=651),
            edge.exited("s3", "t3", at_s=690),
        ]
    )
    assert failures(response) == []
    # When a later batch reads the ambiguities for a shelf change at 700 s
    state = _state(aws)
    # Then it reads from two minutes before s3's entry, not the whole day
    assert _starts(state, 700) == [650]
    # And when a session that entered at 300 s turns up (a late `session.entered`), the
    # ambiguities are read again from two minutes before it
    late = SessionRecord(
        store_id=STORE,
        session_id="s2",
        status=SessionStatus.OPEN,
        tracks=["t2"],
        gate_id="in",
        account_ref="acct-secret-2",
        entered_at=T0 + timedelta(seconds=300),
        opened_by="01LATE",
    )
    state.remember(late)
    assert _starts(state, 700) == [200, 650]


def test_with_no_session_to_charge_only_the_last_minutes_are_read(aws: MotoIngest) -> None:
    # Given a day whose only shopper was handed over long ago
    edge = Edge()
    aws.send(
        [
            edge.entered("s0", ["t0"], at_s=0),
            edge.ambiguity("t0", "tx", 0.3, at_s=11),
            edge.exited("s0", "t0", at_s=20),
            edge.heartbeat(30),
            edge.ambiguity("tx", "ty", 0.3, at_s=1001),
        ]
    )
    # When a change at 1,050 s (made by nobody who can be charged) reads them
    # Then only those of the two minutes before it are read
    assert _starts(_state(aws), 1050) == [1000]


def _day(edge: Edge) -> tuple[list[Event], Event]:
    """A day with swaps long before the shelf change, a track that met someone before its
    scan bound it, and a change three people could have made."""
    setup = [
        edge.entered("s0", ["t0"], at_s=0),
        edge.ambiguity("t0", "tx", 0.3, at_s=10),  # tx: a person never bound (staff)
        edge.exited("s0", "t0", at_s=30),
        edge.heartbeat(40),
        edge.ambiguity("tx", "ty", 0.4, at_s=100),
        edge.ambiguity("t5", "tx", 0.2, at_s=350),  # before t5's scan: recorded unbound
        edge.entered("s5", ["t5"], at_s=400),
        edge.entered("s1", ["t1"], at_s=500),
        edge.ambiguity("t1", "tx", 0.3, at_s=520),
        edge.ambiguity("t1", "t5", 0.25, at_s=530),
        edge.heartbeat(540),
    ]
    shelf = edge.shelf(
        "L4",
        -1000.5,
        [("t1", "s1", 0.8, 0.4), ("tx", None, 0.7, 0.5), ("t5", "s5", 0.6, 0.6)],
        at_s=560,
    )
    return setup, shelf


def _attributed(monkeypatch: pytest.MonkeyPatch, before_entry: timedelta | None) -> Any:
    if before_entry is not None:
        monkeypatch.setattr(state_module, "BEFORE_ENTRY", before_entry)
    for aws in moto_ingest():
        setup, shelf = _day(Edge())
        assert failures(aws.send(setup)) == []
        assert failures(aws.send([shelf])) == []
        record = aws.sessions().get_attribution(STORE, shelf.event_id)
        carts = {s: aws.read(s)[1] for s in ("s1", "s5")}
    monkeypatch.undo()
    assert record is not None
    return record, {s: (c.items, round(c.confidence, 12)) for s, c in carts.items() if c}


def test_the_window_gives_the_shares_the_whole_day_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the same day read with the window, and with every ambiguity of the last 3 h
    windowed, carts = _attributed(monkeypatch, None)
    whole, whole_carts = _attributed(monkeypatch, timedelta(hours=3))
    # Then the change is attributed alike: the decision, every share and the carts
    assert windowed.decision == whole.decision
    assert (windowed.p_who, windowed.p_what, windowed.p_nobody) == (
        whole.p_who,
        whole.p_what,
        whole.p_nobody,
    )
    assert windowed.sessions == whole.sessions
    assert windowed.alternatives == whole.alternatives
    assert carts == whole_carts


def _ambiguity(n: int) -> Ambiguity:
    return Ambiguity(
        event_id=f"01AMB{n:04d}",
        t_start=T0 + timedelta(seconds=n),
        t_end=T0 + timedelta(seconds=n + 1),
        track_a=f"t{n}",
        track_b=f"t{n + 1}",
        swap_probability=0.3,
        session_a=None,
        session_b=None,
    )


def _stored_ambiguities(aws: MotoIngest) -> list[str]:
    return sorted(a.event_id for a in aws.sessions().ambiguities(STORE, T0 - timedelta(hours=1)))


def _counting(aws: MotoIngest, operation: str) -> list[int]:
    calls: list[int] = []
    aws.ddb.meta.events.register(
        f"provide-client-params.dynamodb.{operation}",
        lambda params, **_: calls.append(len(next(iter(params["RequestItems"].values())))),
    )
    return calls


def _unavailable(self: SessionsTable, store_id: str, ambiguities: Any) -> None:
    raise RuntimeError("DynamoDB unavailable")


def test_ambiguities_are_written_together_before_they_are_read(aws: MotoIngest) -> None:
    state = _state(aws)
    batch_writes = _counting(aws, "BatchWriteItem")
    # Given 30 ambiguities reported in one batch
    for n in range(30):
        state.remember_ambiguity(_ambiguity(n))
    # Then none is written yet
    assert _stored_ambiguities(aws) == []
    # When a shelf change needs them: they are written first, 25 to a request, and read back
    assert len(state.ambiguities(T0 + timedelta(seconds=40))) == 30
    assert batch_writes == [25, 5]
    assert len(_stored_ambiguities(aws)) == 30
    # And one reported after that read is in the batch's view at once, and written at the end
    state.remember_ambiguity(_ambiguity(31))
    assert len(state.ambiguities(T0 + timedelta(seconds=40))) == 31
    state.write_ambiguities()
    state.write_ambiguities()  # nothing left: no request
    assert batch_writes == [25, 5, 1]
    assert _stored_ambiguities(aws) == [f"01AMB{n:04d}" for n in (*range(30), 31)]


def test_a_failed_write_of_ambiguities_fails_the_batch_and_loses_none(
    aws: MotoIngest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a batch of ambiguities whose write at the end of the batch fails
    edge = Edge()
    events = [edge.entered("s1", ["t1"], at_s=0)]
    events += [edge.ambiguity("t1", f"x{n}", 0.2, at_s=1 + n) for n in range(3)]
    real = SessionsTable.put_ambiguities

    monkeypatch.setattr(SessionsTable, "put_ambiguities", _unavailable)
    # When the batch is handled, the invocation fails as a whole (Kinesis delivers it again)
    with pytest.raises(RuntimeError, match="unavailable"):
        aws.send(events)
    assert _stored_ambiguities(aws) == []
    # And delivered again once DynamoDB answers, every ambiguity is stored, once
    monkeypatch.setattr(SessionsTable, "put_ambiguities", real)
    assert failures(aws.send(events)) == []
    assert len(_stored_ambiguities(aws)) == 3


def test_ambiguities_whose_write_failed_are_written_at_the_next_try(
    aws: MotoIngest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two ambiguities kept, and a write of them that fails (before a read for a
    # shelf change, say)
    state = _state(aws)
    state.remember_ambiguity(_ambiguity(1))
    state.remember_ambiguity(_ambiguity(2))
    real = SessionsTable.put_ambiguities

    monkeypatch.setattr(SessionsTable, "put_ambiguities", _unavailable)
    with pytest.raises(RuntimeError, match="unavailable"):
        state.write_ambiguities()
    # When the next write (at the end of the batch) goes through
    monkeypatch.setattr(SessionsTable, "put_ambiguities", real)
    state.remember_ambiguity(_ambiguity(3))
    state.write_ambiguities()
    # Then all three are stored
    assert _stored_ambiguities(aws) == ["01AMB0001", "01AMB0002", "01AMB0003"]
