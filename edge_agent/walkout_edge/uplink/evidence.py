"""Uploads queued evidence images to the evidence bucket, under the key the event names.

Evidence travels beside the events, not in front of them: an event is sent whether or not
its images are up yet, so an S3 problem can never hold back carts and receipts. Reviewers
see images minutes later at the earliest (a review task is created after the shopper
left), and the key is known from the event, so arriving a little after it is harmless.
The same outbox keeps the images until S3 has stored them; keys derive from the event id
and an image is never overwritten with other bytes, so a repeated upload after a crash is
harmless.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from walkout_edge.uplink.backoff import Backoff, Failure, classify_exception
from walkout_edge.uplink.health import UplinkStatus
from walkout_edge.uplink.outbox import Outbox

# Images are read from the outbox a few at a time: each is an upload of its own anyway.
BATCH: Final = 8

log = logging.getLogger("walkout_edge.uplink.evidence")


class EvidenceUploader:
    """The delivery loop of evidence images: outbox → S3 PutObject → delete."""

    name = "evidence"

    def __init__(
        self,
        outbox: Outbox,
        *,
        client: Any,
        bucket: str,
        status: UplinkStatus,
        backoff: Backoff | None = None,
    ) -> None:
        self.outbox = outbox
        self._client = client
        self._bucket = bucket
        self._status = status
        self._backoff = backoff or Backoff()
        self._offline_attempts = 0

    def pending(self) -> int:
        return int(self.outbox.evidence_depth)

    def step(self, draining: bool) -> float:
        images = self.outbox.peek_evidence(BATCH)
        if not images:
            self.outbox.recount()  # the depth said there was work: trust the table
            return 0.1
        for image in images:
            try:
                self._client.put_object(
                    Bucket=self._bucket, Key=image.key, Body=image.jpeg, ContentType="image/jpeg"
                )
            except Exception as exc:
                failure = classify_exception(exc)
                if failure is None:
                    raise
                return self._failed(failure, exc, image.key)
            self.outbox.ack_evidence([image.pos])
            self._status.delivered(self._status.s3, 1, requests=1, nbytes=len(image.jpeg))
            self._backoff.succeeded()
            if self._offline_attempts:
                log.info("s3 reachable again", extra={"failed_attempts": self._offline_attempts})
                self._offline_attempts = 0
        return 0.0

    def _failed(self, failure: Failure, exc: Exception, key: str) -> float:
        response = getattr(exc, "response", None)
        code = (
            str(response.get("Error", {}).get("Code"))
            if isinstance(response, dict)
            else type(exc).__name__
        )
        self._status.failed(self._status.s3, failure, code, str(exc))
        delay: float = self._backoff.delay(failure)
        if failure is Failure.OFFLINE:
            self._offline_attempts += 1
            if self._offline_attempts % 10 != 1:
                return delay
        log.log(
            logging.DEBUG if failure is Failure.THROTTLED else logging.WARNING,
            "evidence upload failed, the image stays in the outbox",
            extra={"key": key, "error_code": code, "retry_in_s": round(delay, 3)},
        )
        return delay
