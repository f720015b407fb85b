"""Batch requests send again what DynamoDB left unprocessed, with backoff, and give up
with an error after the retries (`walkout.data.dynamo._until_processed`)."""

from __future__ import annotations

from typing import Any

import pytest

from walkout.data import dynamo


def test_what_is_left_unprocessed_is_sent_again_until_none_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(dynamo.time, "sleep", slept.append)
    answers: list[dict[str, Any] | None] = [{"t": ["b", "c"]}, {"t": ["c"]}, {}]
    sent: list[dict[str, Any]] = []

    def send(request: dict[str, Any]) -> dict[str, Any] | None:
        sent.append(request)
        return answers.pop(0)

    dynamo._until_processed(send, {"t": ["a", "b", "c"]}, "batch on t: items")
    assert sent == [{"t": ["a", "b", "c"]}, {"t": ["b", "c"]}, {"t": ["c"]}]
    assert slept == [0.05, 0.1]


def test_what_is_still_left_after_the_retries_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(dynamo.time, "sleep", slept.append)
    with pytest.raises(RuntimeError, match="batch on t: items left unprocessed after retries"):
        dynamo._until_processed(lambda request: request, {"t": ["a"]}, "batch on t: items")
    assert len(slept) == 8 and max(slept) == 1.0
