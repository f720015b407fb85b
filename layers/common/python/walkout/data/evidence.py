"""Evidence images in the evidence bucket, as review tasks reference them.

The edge uploads an event's images under `stores/<store>/evidence/<event_id>/` (the key
the event names, see edge_agent's uplink): a shelf event's reach images, and a
`session.entered` / `session.joined`'s crop of each member as they came in (every shopper
who enters is photographed, reviewed or not; the bucket's lifecycle deletes all of it after
`evidence_retention_days`). Attribution records do not carry a shelf event's keys yet, so
review lists its prefix: one `ListObjectsV2` per reviewed event, a handful per review. A
session keeps its looks' keys (`SessionRecord.looks`), only those `own_evidence` accepts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


def evidence_of_store(store_id: str) -> str:
    return f"stores/{store_id}/evidence/"


def evidence_prefix(store_id: str, event_id: str) -> str:
    return f"{evidence_of_store(store_id)}{event_id}/"


# An evidence key the cloud keeps from an event: under that event's own prefix, in the
# characters the edge writes (no spaces, no "..", nothing a template or a URL would need
# to escape).
_KEY = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")


def own_evidence(store_id: str, event_id: str, keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """(kept, refused): the keys under the event's own evidence prefix, and the others."""
    prefix = evidence_prefix(store_id, event_id)
    kept: list[str] = []
    refused: list[str] = []
    for k in keys:
        ok = k.startswith(prefix) and ".." not in k and _KEY.fullmatch(k) is not None
        (kept if ok else refused).append(k)
    return kept, refused


class EvidenceImages:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def uris(self, store_id: str, event_id: str, limit: int = 6) -> list[str]:
        """`s3://` URIs of the event's images (at most `limit`, in key order)."""
        page = self.s3.list_objects_v2(
            Bucket=self.bucket, Prefix=evidence_prefix(store_id, event_id), MaxKeys=limit
        )
        return [f"s3://{self.bucket}/{o['Key']}" for o in page.get("Contents", [])]
