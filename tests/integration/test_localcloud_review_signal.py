"""The simulated console reviewers look at the queue when a task was queued, one reviewer
per task (localcloud.reviewer.WorkSignal), told by the dispatcher's listeners."""

from __future__ import annotations

import threading
import time
from types import ModuleType, SimpleNamespace
from typing import Any, cast

import pytest

from localcloud.dispatch import Dispatcher
from localcloud.reviewer import WorkSignal


def test_one_notice_wakes_one_reviewer_and_the_others_keep_waiting() -> None:
    # Given three reviewers waiting on the signal
    signal = WorkSignal()
    woken: list[bool] = []
    lock = threading.Lock()

    def reviewer() -> None:
        took = signal.wait(timeout_s=3.0)
        with lock:
            woken.append(took)

    threads = [threading.Thread(target=reviewer) for _ in range(3)]
    for thread in threads:
        thread.start()
    # When one task is queued
    signal.notify()
    for thread in threads:
        thread.join(timeout=10)
    # Then exactly one reviewer took a notice; the others waited their time out
    assert sorted(woken) == [False, False, True]


def test_notices_wait_for_busy_reviewers_and_closing_wakes_everyone() -> None:
    # Given two tasks queued while every reviewer was busy
    signal = WorkSignal()
    signal.notify()
    signal.notify()
    # When a reviewer comes back: it takes one notice per look, without waiting
    assert signal.wait(timeout_s=0.0)
    assert signal.wait(timeout_s=0.0)
    assert not signal.wait(timeout_s=0.0)

    # When the reviewers stop, a reviewer waiting a long time is woken at once
    started = time.monotonic()
    waiter = threading.Thread(target=signal.wait, args=(60.0,))
    waiter.start()
    signal.close()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert signal.closed and time.monotonic() - started < 30
    signal.reopen()
    assert not signal.closed


def test_the_dispatcher_tells_its_listeners_of_each_call_that_returned() -> None:
    # Given a dispatcher whose queue function (a stand-in container) fails once, then works
    handled: list[Any] = []

    def handle(event: Any, context: Any) -> Any:
        handled.append(event)
        return {"queued": True}

    dispatcher = Dispatcher(prefix="walkout-test")
    dispatcher.modules["review_queue"] = cast(ModuleType, SimpleNamespace(lambda_handler=handle))
    dispatcher.failures["review-queue"] = [RuntimeError("throttled")]
    heard: list[str] = []
    dispatcher.listeners.append(heard.append)
    # When it is called twice
    with pytest.raises(RuntimeError):
        dispatcher.call("review-queue", {"n": 1})
    assert dispatcher.call("review-queue", {"n": 2}) == {"queued": True}
    # Then the listeners heard only the call that returned
    assert heard == ["review-queue"]
    assert handled == [{"n": 2}]
