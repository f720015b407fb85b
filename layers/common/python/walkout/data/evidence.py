"""Evidence images of shelf events in the evidence bucket, as review tasks reference them.

The edge uploads an event's images under `stores/<store>/evidence/<event_id>/` (the key
the event names, see edge_agent's uplink). Attribution records do not carry the keys yet,
so review lists that prefix: one `ListObjectsV2` per reviewed event, a handful per review.
"""

from __future__ import annotations

from typing import Any


def evidence_prefix(store_id: str, event_id: str) -> str:
    return f"stores/{store_id}/evidence/{event_id}/"


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
