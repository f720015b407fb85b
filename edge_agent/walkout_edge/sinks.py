"""Where the perception pipeline puts what it produces: events and their evidence images.

The pipeline knows only `EventSink`. `walkout-edge replay` writes to a JSONL file and an
evidence folder; the daemon writes to the durable outbox, which uploads evidence to S3 and
ships events to Kinesis. Evidence keys are the S3 keys the event references:
`stores/{store_id}/evidence/{event_id}/{name}.jpg`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from walkout.events import Event, event_to_json


@dataclass(frozen=True)
class EvidenceImage:
    key: str
    jpeg: bytes


def evidence_key(store_id: str, event_id: str, name: str) -> str:
    return f"stores/{store_id}/evidence/{event_id}/{name}.jpg"


class EventSink(Protocol):
    def emit(self, event: Event, evidence: Sequence[EvidenceImage] = ()) -> None:
        """Take one event; once this returns, the event counts as produced."""

    def close(self) -> None:
        """Flush and release what the sink holds."""


class JsonlSink:
    """One event per line, evidence images as files under `evidence_dir` by their key."""

    def __init__(self, out: Path, evidence_dir: Path | None = None) -> None:
        self._file: IO[bytes] = out.open("wb")
        self._evidence_dir = evidence_dir

    def emit(self, event: Event, evidence: Sequence[EvidenceImage] = ()) -> None:
        if self._evidence_dir is not None:
            for image in evidence:
                path = self._evidence_dir / image.key
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(image.jpeg)
        self._file.write(event_to_json(event) + b"\n")

    def close(self) -> None:
        self._file.close()
