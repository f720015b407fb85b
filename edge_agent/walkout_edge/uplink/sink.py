"""The daemon's `EventSink`: an event is produced once it is committed to the outbox."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from walkout.events import Event, event_to_json
from walkout_edge.sinks import EvidenceImage
from walkout_edge.uplink.outbox import Outbox, PendingEvent

# Kinesis takes at most 1 MiB of data plus partition key per record; an aggregate adds a
# 4-byte magic, a 16-byte MD5 and a few bytes of protobuf framing per key and record.
KINESIS_MAX_RECORD_BYTES = 1024 * 1024
AGGREGATION_OVERHEAD_BYTES = 64


class Sequencer:
    """Hands out one device's seq numbers to its pipeline and to its heartbeats.

    The pipeline takes a number (`next_seq`) and emits the event a moment later; a heartbeat
    takes a number only while no taken number is still unemitted (`exclusive`), so the two
    never interleave out of order. Starts after the last seq the outbox holds for the device,
    so numbering continues across restarts.
    """

    def __init__(self, device_id: str, last_seq: int | None) -> None:
        self.device_id = device_id
        self._cond = threading.Condition(threading.RLock())
        self._next = 0 if last_seq is None else last_seq + 1
        self._outstanding: set[int] = set()

    def next_seq(self) -> int:
        with self._cond:
            seq = self._next
            self._next += 1
            self._outstanding.add(seq)
            return seq

    def observe(self, seq: int) -> None:
        """An event of this device with `seq` was enqueued."""
        with self._cond:
            # A number taken below an emitted one can never be used any more (seq must grow).
            self._outstanding = {s for s in self._outstanding if s > seq}
            self._next = max(self._next, seq + 1)
            self._cond.notify_all()

    def forget_outstanding(self) -> None:
        """Give up on numbers taken but never emitted (a pipeline that dropped an event)."""
        with self._cond:
            self._outstanding.clear()
            self._cond.notify_all()

    @contextmanager
    def exclusive(self, timeout: float) -> Iterator[int]:
        """A seq for an event the caller emits inside the block; nobody else numbers meanwhile.

        Raises `TimeoutError` if numbers taken by the pipeline stay unemitted for `timeout`.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: not self._outstanding, timeout):
                raise TimeoutError(
                    f"device {self.device_id}: {len(self._outstanding)} seq numbers taken "
                    f"but not emitted for {timeout:.1f} s"
                )
            seq = self._next
            self._next += 1
            yield seq


class OutboxSink:
    """Validates and commits events with their evidence images to the outbox.

    `emit` returns once the event is on disk. An event of another store, an evidence key
    outside `stores/{store_id}/evidence/{event_id}/`, an event too large for one Kinesis
    record or a seq that does not increase raises `ValueError` and nothing is written.
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        store_id: str,
        sequencer: Sequencer,
    ) -> None:
        self._outbox = outbox
        self._store_id = store_id
        self._sequencer = sequencer
        self._max_body = (
            KINESIS_MAX_RECORD_BYTES - len(store_id.encode()) - AGGREGATION_OVERHEAD_BYTES
        )

    def emit(self, event: Event, evidence: Sequence[EvidenceImage] = ()) -> None:
        self.emit_many([(event, evidence)])

    def emit_many(self, items: Sequence[tuple[Event, Sequence[EvidenceImage]]]) -> None:
        """Commit several events in one transaction (all or none), in the given order."""
        pending = [self._pending(event, evidence) for event, evidence in items]
        self._outbox.enqueue(pending)
        own = [p.seq for p in pending if p.device_id == self._sequencer.device_id]
        if own:
            self._sequencer.observe(max(own))

    def _pending(self, event: Event, evidence: Sequence[EvidenceImage]) -> PendingEvent:
        if event.store_id != self._store_id:
            raise ValueError(
                f"event {event.event_id}: store_id {event.store_id!r} is not this box's "
                f"store {self._store_id!r}"
            )
        prefix = f"stores/{self._store_id}/evidence/{event.event_id}/"
        for image in evidence:
            if not image.key.startswith(prefix) or len(image.key) == len(prefix):
                raise ValueError(
                    f"event {event.event_id}: evidence key {image.key!r} is not under {prefix}"
                )
        body = event_to_json(event)
        if len(body) > self._max_body:
            raise ValueError(
                f"event {event.event_id}: {len(body)} bytes do not fit in one Kinesis record "
                f"(at most {self._max_body})"
            )
        return PendingEvent(
            event_id=event.event_id,
            partition_key=event.store_id,
            device_id=event.device_id,
            seq=event.seq,
            body=body,
            evidence=[(image.key, image.jpeg) for image in evidence],
        )

    def close(self) -> None:
        """The outbox belongs to the daemon, which closes it after the last flush."""
