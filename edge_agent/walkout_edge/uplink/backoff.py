"""Retry timing: exponential backoff with full jitter, and which failures deserve which.

Full jitter (sleep uniformly in [0, min(cap, base * 2**attempt)]) spreads the retries of
many store boxes that lost the same network at the same moment, instead of having them
retry in lock-step when it comes back (AWS Architecture Blog, "Exponential Backoff And
Jitter", 2015).

Three schedules, because the failures differ:
- `throttled`: Kinesis refused records for shard throughput (1 MiB/s or 1,000 records/s per
  shard, measured per second), KMS throttled, or the service failed inside (5xx). The
  budget refills every second, so retries start at 100 ms and stay below 5 s.
- `offline`: no connection (refused, reset, timed out, DNS) or no credentials (a
  `credential_process` helper cannot reach its endpoint either). Starts at 1 s, caps at
  10 s: one probe every 5 s on average costs nothing (a tight loop would burn the CPU the
  cameras need), and carts and receipts catch up at most 10 s after the link is back. A
  30 s cap was measured too (`python -m walkout_edge.uplink.bench`): 1.6-13 s from link
  back to the first accepted put, for no real saving in probes.
- `rejected`: the request itself was refused (access denied, no such stream or bucket, a
  disabled key). Nothing is dropped: it is retried every minute or so while `/healthz`
  shows the error for an operator to fix.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError


class Failure(StrEnum):
    THROTTLED = "throttled"
    OFFLINE = "offline"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Schedule:
    base_s: float
    cap_s: float


DEFAULT_SCHEDULES: Final[dict[Failure, Schedule]] = {
    Failure.THROTTLED: Schedule(base_s=0.1, cap_s=5.0),
    Failure.OFFLINE: Schedule(base_s=1.0, cap_s=10.0),
    Failure.REJECTED: Schedule(base_s=1.0, cap_s=60.0),
}

THROTTLING_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "LimitExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "KMSThrottlingException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def classify_error_code(code: str | None, http_status: int | None = None) -> Failure:
    if code in THROTTLING_CODES or (http_status is not None and http_status >= 500):
        return Failure.THROTTLED
    return Failure.REJECTED


def classify_exception(exc: BaseException) -> Failure | None:
    """The schedule for an exception from a boto3 call, or None if it is not an AWS failure."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return classify_error_code(error.get("Code"), status)
    if isinstance(
        exc,
        BotoConnectionError
        | HTTPClientError
        | NoCredentialsError
        | PartialCredentialsError
        | CredentialRetrievalError,
    ):
        return Failure.OFFLINE
    return None


class Backoff:
    """Consecutive-failure counters per schedule; a success resets them all."""

    def __init__(
        self,
        schedules: dict[Failure, Schedule] | None = None,
        rng: Callable[[float, float], float] | None = None,
    ) -> None:
        self.schedules = dict(DEFAULT_SCHEDULES if schedules is None else schedules)
        self._uniform = rng if rng is not None else random.SystemRandom().uniform
        self._attempts: dict[Failure, int] = dict.fromkeys(Failure, 0)

    def delay(self, failure: Failure) -> float:
        """Seconds to wait before the next try after one more `failure`."""
        schedule = self.schedules[failure]
        attempt = self._attempts[failure]
        self._attempts[failure] = attempt + 1
        # 2**attempt stops growing once past the cap; bounding the exponent avoids overflow.
        ceiling = min(schedule.cap_s, schedule.base_s * 2 ** min(attempt, 32))
        return self._uniform(0.0, ceiling)

    def attempts(self, failure: Failure) -> int:
        return self._attempts[failure]

    def succeeded(self) -> None:
        self._attempts = dict.fromkeys(Failure, 0)
