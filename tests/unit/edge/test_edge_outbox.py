"""The durable outbox: order, durability across reopen, seq guard, and refusing bad files."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from edge_events import DEVICE, STORE, pending
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walkout_edge.uplink.outbox import (
    Outbox,
    OutboxCorruptError,
    OutboxLockedError,
    OutboxUnwritableError,
    SequenceError,
)


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    box = Outbox(tmp_path / "outbox.db", store_id=STORE, depth_threshold=3)
    yield box
    box.close()


def _bodies(box: Outbox) -> list[bytes]:
    return [e.body for e in box.iter_events()]


def test_events_come_back_in_production_order_and_leave_only_when_acknowledged(
    outbox: Outbox,
) -> None:
    # Given events enqueued one by one and in a batch
    outbox.enqueue([pending(0)])
    outbox.enqueue([pending(1), pending(2), pending(3)])

    # When the first two are acknowledged
    queued = list(outbox.iter_events())
    outbox.ack_events([queued[0].pos, queued[1].pos])

    # Then the rest is still there, in order, and the depth says so
    assert _bodies(outbox) == [pending(2).body, pending(3).body]
    assert outbox.depth == 2
    assert [q.pos for q in outbox.iter_events()] == sorted(q.pos for q in outbox.iter_events())


def test_a_reopened_outbox_keeps_events_evidence_and_the_last_seq(tmp_path: Path) -> None:
    # Given an outbox with queued events and an image, closed as if the process ended
    path = tmp_path / "outbox.db"
    box = Outbox(path, store_id=STORE)
    box.enqueue([pending(5, evidence=[("stores/x/evidence/e/a.jpg", b"jpeg")]), pending(6)])
    first = next(box.iter_events())
    box.ack_events([first.pos])
    box.close()

    # When it is opened again
    reopened = Outbox(path, store_id=STORE)

    # Then what was not acknowledged is still queued, with its seq history
    assert _bodies(reopened) == [pending(6).body]
    assert reopened.depth == 1 and reopened.evidence_depth == 1
    assert reopened.peek_evidence(10)[0].jpeg == b"jpeg"
    assert reopened.last_seq(DEVICE) == 6
    assert reopened.last_seq("other-device") is None
    reopened.close()


def test_a_seq_that_does_not_increase_is_refused_and_nothing_of_the_batch_is_written(
    outbox: Outbox,
) -> None:
    outbox.enqueue([pending(3)])

    with pytest.raises(SequenceError, match="seq 3 of device 'edge-rec'"):
        outbox.enqueue([pending(4, evidence=[("k", b"x")]), pending(3)])

    assert _bodies(outbox) == [pending(3).body]
    assert outbox.depth == 1 and outbox.evidence_depth == 0
    assert outbox.last_seq(DEVICE) == 3
    # seq is per device: another device may use any number
    outbox.enqueue([pending(0, device="edge-2")])
    assert outbox.last_seq("edge-2") == 0


def test_depth_over_the_threshold_is_flagged(outbox: Outbox) -> None:
    outbox.enqueue([pending(0), pending(1)])
    assert not outbox.over_threshold
    outbox.enqueue([pending(2)])
    assert outbox.over_threshold


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    path.write_bytes(b"this was an outbox before the power cut" * 100)

    with pytest.raises(OutboxCorruptError, match="not an SQLite database") as error:
        Outbox(path, store_id=STORE)

    assert str(path) in str(error.value)
    assert path.read_bytes().startswith(b"this was an outbox")


def test_a_damaged_outbox_is_refused(tmp_path: Path) -> None:
    # Given a real outbox whose pages were overwritten in the middle
    path = tmp_path / "outbox.db"
    box = Outbox(path, store_id=STORE)
    box.enqueue([pending(i, size=3000) for i in range(200)])
    box.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 3)
        f.write(os.urandom(size // 3))

    # When it is opened, then the damage is reported, not papered over
    with pytest.raises(OutboxCorruptError, match=r"damaged|integrity check failed"):
        Outbox(path, store_id=STORE)


def test_an_sqlite_file_of_something_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")

    with pytest.raises(OutboxCorruptError, match="not a Walkout outbox"):
        Outbox(path, store_id=STORE)


def test_another_stores_outbox_is_refused(tmp_path: Path) -> None:
    Outbox(tmp_path / "outbox.db", store_id="store-001").close()

    with pytest.raises(OutboxCorruptError, match="holds events of store 'store-001'"):
        Outbox(tmp_path / "outbox.db", store_id=STORE)


def test_a_second_process_cannot_open_the_same_outbox(outbox: Outbox) -> None:
    with pytest.raises(OutboxLockedError, match="in use by another walkout-edge process"):
        Outbox(outbox.path, store_id=STORE)


def test_an_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes through permission bits: use a path under a file
        (tmp_path / "not-a-dir").write_text("")
        path = tmp_path / "not-a-dir" / "outbox.db"
        expected = "cannot create directory"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        path = locked / "outbox.db"
        expected = "not writable"

    with pytest.raises(OutboxUnwritableError, match=expected):
        Outbox(path, store_id=STORE)


def test_a_full_disk_during_enqueue_raises_and_loses_nothing_already_committed(
    outbox: Outbox,
) -> None:
    # Given committed events and a database that may not grow any more (as on a full disk)
    outbox.enqueue([pending(0), pending(1)])
    pages = outbox._conn().execute("PRAGMA page_count").fetchone()[0]
    outbox._conn().execute(f"PRAGMA max_page_count = {pages}")

    # When a large batch is enqueued, then it is refused with the disk named as the cause
    with pytest.raises(OutboxUnwritableError, match="disk"):
        outbox.enqueue([pending(i, size=8000) for i in range(2, 40)])

    # and what was committed before is intact and still counted
    assert _bodies(outbox) == [pending(0).body, pending(1).body]
    assert outbox.depth == 2
    assert outbox.last_seq(DEVICE) == 1


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    operations=st.lists(
        st.one_of(
            st.tuples(st.just("enqueue"), st.integers(1, 5)),
            st.tuples(st.just("ack"), st.lists(st.integers(0, 30), max_size=6)),
            st.tuples(st.just("reopen"), st.just(0)),
        ),
        max_size=25,
    )
)
def test_whatever_the_interleaving_the_queue_is_the_unacknowledged_events_in_order(
    tmp_path_factory: pytest.TempPathFactory, operations: list[tuple[str, object]]
) -> None:
    path = tmp_path_factory.mktemp("box") / "outbox.db"
    box = Outbox(path, store_id=STORE)
    model: list[bytes] = []
    seq = 0
    try:
        for op, arg in operations:
            if op == "enqueue":
                batch = [pending(seq + i, size=50 + (seq + i) % 200) for i in range(int(arg))]
                seq += len(batch)
                box.enqueue(batch)
                model.extend(p.body for p in batch)
            elif op == "ack":
                queued = list(box.iter_events())
                chosen = sorted({i for i in arg if i < len(queued)})  # type: ignore[attr-defined]
                box.ack_events([queued[i].pos for i in chosen])
                model = [b for i, b in enumerate(model) if i not in chosen]
            else:
                box.close()
                box = Outbox(path, store_id=STORE)
            assert _bodies(box) == model
            assert box.depth == len(model)
    finally:
        box.close()
