"""Small builders of events and outbox rows for the uplink unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from walkout.events import Event, make_event
from walkout.ids import new_ulid
from walkout_edge.sinks import evidence_key
from walkout_edge.uplink.outbox import PendingEvent

STORE = "store-042"
DEVICE = "edge-rec"
T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def exited(seq: int, *, device: str = DEVICE, at_s: float | None = None, **kw: Any) -> Event:
    ts = T0 + timedelta(seconds=seq if at_s is None else at_s)
    data = {"track_id": f"trk-{seq}", "session_id": f"sess-{seq}", "gate_id": "exit"}
    return make_event(
        "track.exited", data, store_id=kw.get("store", STORE), device_id=device, seq=seq, ts=ts
    )


def shelf_changed(seq: int, *, at_s: float | None = None, images: int = 1) -> Event:
    ts = T0 + timedelta(seconds=seq if at_s is None else at_s)
    event_id = new_ulid(ts)
    data = {
        "shelf_id": "shelf-1",
        "lane_id": "lane-2",
        "delta_g": -250.0,
        "t_start": ts - timedelta(seconds=1),
        "t_end": ts,
        "noise_g": 2.0,
        "candidates": [],
        "evidence": [evidence_key(STORE, event_id, f"view-{n}") for n in range(images)],
    }
    return make_event(
        "shelf.changed",
        data,
        store_id=STORE,
        device_id=DEVICE,
        seq=seq,
        ts=ts,
        event_id=event_id,
    )


def pending(
    seq: int,
    *,
    key: str = STORE,
    device: str = DEVICE,
    size: int = 100,
    evidence: list[tuple[str, bytes]] | None = None,
) -> PendingEvent:
    """An outbox row whose body is `size` bytes that name the row (for order checks)."""
    label = f"{key}/{device}/{seq}|".encode()
    body = (label * (size // len(label) + 1))[:size] if size >= len(label) else label
    return PendingEvent(
        event_id=f"evt-{key}-{device}-{seq}",
        partition_key=key,
        device_id=device,
        seq=seq,
        body=body,
        evidence=evidence or [],
    )
