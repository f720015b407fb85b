"""Function containers in worker processes (`localcloud.containers`): a handler run in a
worker reports what the same handler reports in this process; a worker that dies is
replaced; an invocation that finds every worker busy runs here; a recycled pool starts
new workers. The success path of every function through workers is the e2e pipeline's
(`tests/e2e/test_local_pipeline*.py`, which run with the default worker processes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any, cast

import pytest

from localcloud.containers import ContainerLostError, ContainerPool, FunctionError
from localcloud.deploy import environment
from localcloud.dispatch import Dispatcher
from localcloud.pipeline import deployment_config

PREFIX = "walkout-test"


@pytest.fixture
def function_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The functions' settings (no endpoint is reached by the calls below)."""
    config = deployment_config("console", {})
    env = environment(
        config,
        state_machine_arn="arn:aws:states:eu-west-1:123456789012:stateMachine:finalize",
        evidence_bucket="evidence",
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")


@pytest.fixture
def pool(function_environment: None) -> Iterator[ContainerPool]:
    containers = ContainerPool(PREFIX, {}, size=1)
    yield containers
    containers.close()


def _error_of(dispatcher: Dispatcher, suffix: str, event: Any) -> tuple[str, str]:
    headers: dict[str, Any] = {}
    payload = json.loads(dispatcher.invoke(f"{PREFIX}-{suffix}", json.dumps(event), headers))
    assert headers == {"x-amz-function-error": "Unhandled"}
    return payload["errorType"], payload["errorMessage"]


def test_a_function_error_in_a_worker_is_reported_as_in_this_process(
    pool: ContainerPool,
) -> None:
    here = Dispatcher(prefix=PREFIX)
    there = Dispatcher(prefix=PREFIX, containers=pool)
    # Not a Kinesis event: the handler raises before any AWS call.
    for event, error_type in (
        ({"Records": []}, "UnexpectedBatchTypeError"),
        ({"detail": "not a batch"}, "KeyError"),
    ):
        expected = _error_of(here, "ingest", event)
        assert expected[0] == error_type
        assert _error_of(there, "ingest", event) == expected
    assert pool.started == 1  # one worker took both
    # The settings check of another function, in the same worker.
    assert _error_of(there, "review-gt-pre", {}) == _error_of(here, "review-gt-pre", {})
    stats = there.stats["ingest"]
    assert (stats.invocations, stats.errors) == (2, 2)
    assert stats.duration_ms > 0  # the handler's own time, measured in the worker


def test_a_worker_that_dies_is_replaced(pool: ContainerPool) -> None:
    dispatcher = Dispatcher(prefix=PREFIX, containers=pool)
    with pytest.raises(FunctionError):
        dispatcher.call("ingest", {"Records": []})
    worker = pool.take()
    assert worker is not None
    worker.process.kill()
    worker.process.wait()
    with pytest.raises(ContainerLostError):
        worker.invoke("ingest", {"Records": []})
    pool.give_back(worker, healthy=False)
    with pytest.raises(FunctionError) as raised:
        dispatcher.call("ingest", {"Records": []})
    assert raised.value.error_type == "UnexpectedBatchTypeError"
    assert pool.started == 2


def test_every_worker_busy_runs_the_call_here(pool: ContainerPool) -> None:
    dispatcher = Dispatcher(prefix=PREFIX, containers=pool)
    ran_here: list[Any] = []
    dispatcher.modules["ingest"] = cast(
        ModuleType, SimpleNamespace(lambda_handler=lambda event, context: ran_here.append(event))
    )
    busy = pool.take()
    assert busy is not None
    try:
        dispatcher.call("ingest", {"n": 1})
    finally:
        pool.give_back(busy, healthy=True)
    assert ran_here == [{"n": 1}]
    # With the worker free again, the call goes to it (the real handler, not the stand-in).
    with pytest.raises(FunctionError):
        dispatcher.call("ingest", {"n": 2})
    assert ran_here == [{"n": 1}]


def test_a_function_with_a_worker_of_its_own_runs_there_first(
    function_environment: None,
) -> None:
    shared = ContainerPool(PREFIX, {}, size=1)
    own = ContainerPool(PREFIX, {}, size=1)
    dispatcher = Dispatcher(prefix=PREFIX, containers=shared, own_containers={"ingest": own})
    ran_here: list[str] = []
    for folder in ("ingest", "review_queue"):
        stand_in = SimpleNamespace(lambda_handler=lambda e, c, f=folder: ran_here.append(f))
        dispatcher.modules[folder] = cast(ModuleType, stand_in)
    try:
        # Given the shared worker busy
        busy = shared.take()
        assert busy is not None
        try:
            # When the function with a worker of its own is called, it runs there (the
            # real handler raises on this event; the stand-in here would not); another
            # function finds no worker and runs here
            with pytest.raises(FunctionError) as raised:
                dispatcher.call("ingest", {"Records": []})
            dispatcher.call("review-queue", {})
        finally:
            shared.give_back(busy, healthy=True)
        assert raised.value.error_type == "UnexpectedBatchTypeError"
        assert (own.started, shared.started, ran_here) == (1, 1, ["review_queue"])
        # And with its own worker busy, it takes a shared one
        mine = own.take()
        assert mine is not None
        try:
            with pytest.raises(FunctionError):
                dispatcher.call("ingest", {"Records": []})
        finally:
            own.give_back(mine, healthy=True)
        assert (own.started, shared.started, ran_here) == (1, 1, ["review_queue"])
        # Recycling renews both pools' workers
        dispatcher.fresh_containers()
        with pytest.raises(FunctionError):
            dispatcher.call("ingest", {"Records": []})
        assert own.started == 2
    finally:
        shared.close()
        own.close()


def test_recycled_workers_are_new_processes(pool: ContainerPool) -> None:
    dispatcher = Dispatcher(prefix=PREFIX, containers=pool)
    first = pool.take()
    assert first is not None
    old_pid = first.process.pid
    pool.give_back(first, healthy=True)
    dispatcher.fresh_containers()
    assert first.process.poll() is not None  # the idle worker was stopped
    second = pool.take()
    assert second is not None
    assert second.process.pid != old_pid
    dispatcher.fresh_containers()  # while it is busy: stopped when given back
    assert second.alive()
    pool.give_back(second, healthy=True)
    assert second.process.poll() is not None
    assert pool.started == 2


def test_a_closed_pool_runs_calls_here(pool: ContainerPool) -> None:
    dispatcher = Dispatcher(prefix=PREFIX, containers=pool)
    dispatcher.modules["ingest"] = cast(
        ModuleType, SimpleNamespace(lambda_handler=lambda event, context: {"here": True})
    )
    pool.close()
    assert dispatcher.call("ingest", {}) == {"here": True}
    assert pool.started == 0


def test_the_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ContainerPool(PREFIX, {}, size=0)
