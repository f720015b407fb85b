"""Opaque cursors: round trip, and anything not issued by the API is refused."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walkout.api.cursor import BadCursorError, decode_cursor, encode_cursor

FIELDS = frozenset({"pk", "sk"})


# A key attribute as the API builds them: a prefix, then up to three identifiers
# (`walkout._base.Identifier`, at most 64 characters) or timestamps, joined by `#`.
_IDENTIFIER = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True)
_KEY_PART = st.tuples(
    st.sampled_from(["SESSION", "STORE", "RECEIPT", "TASK"]),
    st.lists(_IDENTIFIER, min_size=1, max_size=3),
).map(lambda p: "#".join([p[0], *p[1]]))


@given(_KEY_PART, _KEY_PART, _KEY_PART, _KEY_PART)
def test_the_cursor_of_any_key_the_api_reads_round_trips(
    pk: str, sk: str, gsi1pk: str, gsi1sk: str
) -> None:
    position = {"pk": pk, "sk": sk, "gsi1pk": gsi1pk, "gsi1sk": gsi1sk}
    cursor = encode_cursor(position)
    assert decode_cursor(cursor, frozenset(position)) == position
    assert "=" not in cursor


@given(st.text(max_size=100), st.text(max_size=100))
def test_a_cursor_of_any_text_round_trips(pk: str, sk: str) -> None:
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
