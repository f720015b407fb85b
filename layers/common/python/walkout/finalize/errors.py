"""Errors of the finalize workflow's steps. A Lambda's error type is its exception's class
name, which is what the state machine's Retry and Catch match on."""

from __future__ import annotations


class TransientError(RuntimeError):
    """A step that may succeed when retried (throttling, a concurrent write); the state
    machine retries it with backoff."""


class FinalizeError(Exception):
    """A session that cannot be finalized without a person looking at it."""


class SessionNotFoundError(FinalizeError):
    pass


class SessionNotReadyError(FinalizeError):
    pass


class StoreNotFoundError(FinalizeError):
    pass


class AttributionMissingError(FinalizeError):
    """An event the cart counted has no attribution record (expired, or never written)."""


class CartMismatchError(FinalizeError):
    """Replaying the session's attributions does not give its live cart, so corrections
    cannot be applied safely."""
