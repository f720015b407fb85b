"""Opaque cursors: round trip, and anything not issued by the API is refused."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walkout.api.cursor import BadCursorError, decode_cursor, encode_cursor

FIELDS = frozenset({"pk", "sk"})


@given(st.text(max_size=100), st.text(max_size=100))
def test_a_cursor_round_trips(pk: str, sk: str) -> None:
    cursor = encode_cursor({"pk": pk, "sk": sk})
    assert decode_cursor(cursor, FIELDS) == {"pk": pk, "sk": sk}
    assert "=" not in cursor


@given(st.text(max_size=300))
def test_arbitrary_text_either_decodes_to_the_fields_or_is_a_bad_cursor(text: str) -> None:
    try:
        position = decode_cursor(text, FIELDS)
    except BadCursorError:
        return
    assert set(position) == FIELDS


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],
        {"pk": "a"},
        {"pk": "a", "sk": "b", "extra": "c"},
        {"pk": "a", "sk": 3},
        "just a string",
    ],
)
def test_well_encoded_cursors_of_the_wrong_shape_are_refused(payload: object) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(BadCursorError):
        decode_cursor(cursor, FIELDS)


def test_an_overlong_cursor_is_refused() -> None:
    with pytest.raises(BadCursorError, match="too long"):
        decode_cursor("a" * 5000, FIELDS)
