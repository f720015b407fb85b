"""Powertools Logger, Tracer and Metrics, created once per process and shared by all code.

The service name comes from `POWERTOOLS_SERVICE_NAME` (set per function by CDK, see
`walkout.settings`), the metric namespace is always "Walkout" and every metric carries the
deployment's `stage` as a dimension, so two stages in one account never mix their numbers.

Shopper identity never reaches a log line: nothing here or in its callers logs an event's
`account_ref`, a raw record or a stored session. Logs name stores, sessions (opaque ids),
events and counts only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from walkout.settings import ENV_SERVICE_NAME

NAMESPACE: Final = "Walkout"
DEFAULT_SERVICE: Final = "walkout"
STAGE_DIMENSION: Final = "stage"
SERVICE_DIMENSION: Final = "service"
EVENT_TYPE_DIMENSION: Final = "EventType"


class MetricName:
    """Every metric name in one place (the dashboard and the alarms use the same)."""

    EVENTS: Final = "Events"  # per EventType
    QUARANTINED: Final = "QuarantinedEvents"
    DUPLICATES: Final = "DuplicateEvents"
    LATE_EVENTS: Final = "LateShelfEvents"
    EVENT_AGE: Final = "EventAgeMs"  # record arrival -> processed, per batch maximum
    SESSIONS_OPENED: Final = "SessionsOpened"
    SESSIONS_READY: Final = "SessionsReady"
    STALE_DEVICES: Final = "StaleDevices"  # devices no longer holding back readiness
    # session.joined / track.exited that arrived before their session.entered, kept as the
    # ingest table's PENDING# items, and those applied once the session opened.
    HELD_EVENTS: Final = "HeldEvents"
    HELD_EVENTS_APPLIED: Final = "HeldEventsApplied"
    # Look keys of a session.entered / joined outside the event's own evidence prefix
    # (left out; the visit is kept).
    EVIDENCE_KEYS_REFUSED: Final = "EvidenceKeysRefused"
    SESSIONS_BELOW_THRESHOLD: Final = "SessionsBelowThreshold"
    UNCERTAIN_EVENTS: Final = "UncertainShelfEvents"
    CART_UPDATES: Final = "CartUpdates"
    NOTIFICATION_FAILURES: Final = "CartNotificationFailures"
    DYNAMODB_WRITES: Final = "DynamoDbWriteItems"


logger: Final = Logger(service=None, use_rfc3339=True)
tracer: Final = Tracer()
metrics: Final = Metrics(namespace=NAMESPACE)


def service_name() -> str:
    return os.environ.get(ENV_SERVICE_NAME, DEFAULT_SERVICE)


def set_stage(stage: str) -> None:
    """Tag every metric of this process with the deployment stage."""
    metrics.set_default_dimensions(**{STAGE_DIMENSION: stage})


def count(name: str, value: float = 1) -> None:
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def milliseconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)


def count_by_event_type(counts: Mapping[str, int]) -> None:
    """`Events` with an `EventType` dimension: one EMF blob per type (a dimension value
    differs per metric, which one `Metrics` object cannot express)."""
    dimensions = {str(k): str(v) for k, v in metrics.default_dimensions.items()}
    dimensions.setdefault(SERVICE_DIMENSION, service_name())
    for event_type, n in sorted(counts.items()):
        if not n:
            continue
        with single_metric(
            name=MetricName.EVENTS,
            unit=MetricUnit.Count,
            value=n,
            namespace=NAMESPACE,
            default_dimensions=dimensions,
        ) as metric:
            metric.add_dimension(name=EVENT_TYPE_DIMENSION, value=event_type)
