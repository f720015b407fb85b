"""Opaque pagination cursors: a DynamoDB `LastEvaluatedKey` (or a list position) as
URL-safe base64 of compact JSON. A cursor is untrusted input: it is decoded and checked
(shape and, for keys, the caller's own partition) before it reaches DynamoDB, so a forged
or stale cursor is a 400, never a 500 and never a read of another tenant's partition."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

# Longer than any cursor the API issues: an index position has four key attributes, each a
# prefix and up to three identifiers of at most 64 characters (about 1,150 characters).
MAX_CURSOR_CHARS = 2048


class BadCursorError(ValueError):
    """The `cursor` query parameter is not one this API issued."""


def encode_cursor(position: Mapping[str, str]) -> str:
    # UTF-8, not \u escapes: a non-ASCII character takes at most 4 bytes instead of 12.
    raw = json.dumps(
        dict(position), separators=(",", ":"), sort_keys=True, ensure_ascii=False
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, fields: frozenset[str]) -> dict[str, str]:
    """The position in `cursor`, which must hold exactly `fields`, all strings."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadCursorError("cursor is too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadCursorError("cursor is not one this API issued") from None
    if (
        not isinstance(position, dict)
        or set(position) != fields
        or not all(isinstance(v, str) for v in position.values())
    ):
        raise BadCursorError("cursor is not one this API issued")
    return position


def low_level_key(position: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {k: {"S": v} for k, v in position.items()}


def from_low_level_key(key: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    return {k: v["S"] for k, v in key.items()}
