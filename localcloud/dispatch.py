"""Lambda without Docker: moto's Lambda invocations dispatched to the real handlers.

moto runs Lambda without Docker through `LambdaSimpleBackend` (config `{"lambda":
{"use_docker": False}}`), whose `invoke` only echoes the payload. `install` replaces it
(and its SNS-to-Lambda delivery) with a `Dispatcher` that calls the handler the function
name stands for (`functions/<folder>/handler.py`, loaded once per "container") and reports
a raised exception the way Lambda does (`FunctionError`, `errorType` = the exception's class
name), so the state machine's Retry and Catch see what they would see on AWS.

A handler runs in this process, or, with a `ContainerPool` (`localcloud.containers`), in
a worker process that inherited this process's environment. Either way the functions
share one environment (`os.environ`): the runtime sets the union of the functions'
environments, which agree on every shared key except Powertools' service name.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend

from localcloud.containers import (
    ROOT,
    ContainerLostError,
    ContainerPool,
    FunctionError,
    Outcome,
    Worker,
)

FUNCTIONS_DIR = ROOT / "functions"


@dataclass(frozen=True)
class FunctionSpec:
    """One function of the stack: its code folder, handler attribute and memory (as CDK
    deploys it: `WalkoutFunction` defaults to 512 MB, ingest takes the config's)."""

    folder: str
    attribute: str
    memory_mb: int = 512


# function name suffix (after `<prefix>-`) -> the function
FUNCTIONS: Mapping[str, FunctionSpec] = {
    "ingest": FunctionSpec("ingest", "lambda_handler"),
    "finalize-assess": FunctionSpec("finalize", "assess"),
    "finalize-issue": FunctionSpec("finalize", "issue_receipt"),
    "finalize-attention": FunctionSpec("finalize", "mark_attention"),
    "review-queue": FunctionSpec("review_queue", "lambda_handler"),
    "review-gt-pre": FunctionSpec("gt_pre", "lambda_handler"),
    "review-gt-consolidate": FunctionSpec("gt_consolidate", "lambda_handler"),
    "review-gt-result": FunctionSpec("gt_result", "lambda_handler"),
}


def load_module(folder: str) -> ModuleType:
    """A fresh copy of `functions/<folder>/handler.py` (its per-container globals reset)."""
    path = FUNCTIONS_DIR / folder / "handler.py"
    spec = importlib.util.spec_from_file_location(f"walkout_fn_{folder}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LambdaContext:
    """The context object Lambda passes a handler (the attributes Powertools reads)."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: float = 30.0) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class FunctionStats:
    invocations: int = 0
    errors: int = 0
    duration_ms: float = 0.0


@dataclass
class Dispatcher:
    """Routes Lambda invocations to the real handlers; records every call."""

    prefix: str
    memory_mb: Mapping[str, int] = field(default_factory=dict)
    modules: dict[str, ModuleType] = field(default_factory=dict)
    calls: list[tuple[str, float]] = field(default_factory=list)
    stats: dict[str, FunctionStats] = field(default_factory=dict)
    # function suffix -> exceptions to raise on its next calls (in order); for tests
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Called with the function's suffix after each call that returned (e.g. the simulated
    # reviewers learn that the queue function queued a task).
    listeners: list[Callable[[str], None]] = field(default_factory=list)
    # Worker processes the handlers run in (`localcloud.containers`); None: in this process.
    containers: ContainerPool | None = None
    # Functions with workers of their own (suffix -> pool), tried before `containers`.
    own_containers: dict[str, ContainerPool] = field(default_factory=dict)

    def suffix_of(self, function_name: str) -> str:
        """`walkout-dev-finalize-assess` or its ARN (with or without qualifier) -> suffix."""
        name = function_name.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]
        suffix = name.removeprefix(f"{self.prefix}-")
        if suffix not in FUNCTIONS:
            raise LookupError(f"no local handler for the function {name!r}")
        return suffix

    def _begin(self, suffix: str) -> Exception | None:
        """Note the call; the failure a test asked for on it, if any."""
        with self.lock:
            self.calls.append((suffix, time.monotonic()))
            pending = self.failures.get(suffix)
            return pending.pop(0) if pending else None

    def _handler(self, suffix: str) -> Callable[[Any, Any], Any]:
        spec = FUNCTIONS[suffix]
        with self.lock:
            if spec.folder not in self.modules:
                self.modules[spec.folder] = load_module(spec.folder)
        handler: Callable[[Any, Any], Any] = getattr(self.modules[spec.folder], spec.attribute)
        return handler

    def _run(self, suffix: str, event: Any) -> Outcome:
        """Run the handler in a container process when one is free (the function's own
        first, then a shared one), else here."""
        for pool in filter(None, (self.own_containers.get(suffix), self.containers)):
            worker = pool.take()
            if worker is not None:
                return self._run_in(pool, worker, suffix, event)
        return self.run_here(suffix, event)

    def _run_in(self, pool: ContainerPool, worker: Worker, suffix: str, event: Any) -> Outcome:
        healthy = False
        try:
            outcome = worker.invoke(suffix, event)
            healthy = True
        except ContainerLostError as lost:
            return Outcome(None, lost, 0.0)
        finally:
            pool.give_back(worker, healthy=healthy)
        return outcome

    def run_here(self, suffix: str, event: Any) -> Outcome:
        """Run the handler in this process (a container's worker runs its calls so): its
        result or exception, and its own run time."""
        memory = self.memory_mb.get(suffix, FUNCTIONS[suffix].memory_mb)
        context = LambdaContext(f"{self.prefix}-{suffix}", memory)
        handler = self._handler(suffix)
        started = time.perf_counter()
        try:
            result = handler(event, context)
        except Exception as exc:  # handed to the caller by `call`
            return Outcome(None, exc, (time.perf_counter() - started) * 1000)
        return Outcome(result, None, (time.perf_counter() - started) * 1000)

    def call(self, suffix: str, event: Any) -> Any:
        """Run the function on an event; exceptions propagate (the caller decides). A
        function that raised in a container raises `FunctionError` with its class name."""
        if suffix not in FUNCTIONS:
            raise LookupError(f"no local handler for the function suffix {suffix!r}")
        failure = self._begin(suffix)
        outcome = Outcome(None, failure, 0.0) if failure is not None else self._run(suffix, event)
        with self.lock:
            stats = self.stats.setdefault(suffix, FunctionStats())
            stats.invocations += 1
            stats.errors += int(outcome.error is not None)
            stats.duration_ms += outcome.ms
        if outcome.error is not None:
            raise outcome.error
        for listener in list(self.listeners):
            listener(suffix)
        return outcome.result

    def invoke(self, function_name: str, body: Any, response_headers: dict[str, Any]) -> bytes:
        """Lambda's Invoke: JSON in, JSON out; a raised exception becomes a function error."""
        text = body.decode() if isinstance(body, bytes) else body
        event = json.loads(text) if text else {}
        try:
            result = self.call(self.suffix_of(function_name), event)
        except Exception as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            error_type = exc.error_type if isinstance(exc, FunctionError) else type(exc).__name__
            return json.dumps({"errorType": error_type, "errorMessage": str(exc)[:2000]}).encode()
        return json.dumps(result).encode()

    def fresh_containers(self) -> None:
        """Every function starts in a new container on its next call (per-container
        globals reset), as after a redeploy."""
        with self.lock:
            self.modules.clear()
        for pool in (self.containers, *self.own_containers.values()):
            if pool is not None:
                pool.recycle()

    def count(self, suffix: str) -> int:
        return sum(1 for s, _ in self.calls if s == suffix)


def sns_event(topic_arn: str, message: str, subject: str | None) -> dict[str, Any]:
    """The event SNS delivers to a subscribed function."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": now,
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "EXAMPLE",
                    "UnsubscribeUrl": "EXAMPLE",
                    "MessageAttributes": {},
                },
            }
        ]
    }


# SNS delivers to Lambda asynchronously: a failed delivery is retried (Lambda's async
# retries: two more attempts) and then goes to the function's dead-letter target.
SNS_DELIVERY_ATTEMPTS = 3


def install(
    dispatcher: Dispatcher,
    topic_arn: Callable[[str], str] = lambda function_name: "arn:aws:sns:local:0:topic",
    on_undelivered: Callable[[str, str, bytes], None] | None = None,
) -> Callable[[], None]:
    """Replace moto's echoing Lambda backend with the dispatcher; returns `restore`.

    `topic_arn(function_name)` names the topic a function is subscribed to (moto does not
    pass it); `on_undelivered(function_name, message, error)` gets an SNS delivery that failed
    every attempt (None: raise, so a test sees it)."""
    original_invoke = LambdaSimpleBackend.invoke
    original_sns = LambdaSimpleBackend.send_sns_message

    def invoke(  # noqa: PLR0917 - moto's own signature
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        return dispatcher.invoke(function_name, body, response_headers)

    def send_sns_message(
        self: Any,
        function_name: str,
        message: str,
        subject: str | None = None,
        qualifier: str | None = None,
    ) -> None:
        event = json.dumps(sns_event(topic_arn(function_name), message, subject))
        payload = b""
        for _ in range(SNS_DELIVERY_ATTEMPTS):
            headers: dict[str, Any] = {}
            payload = dispatcher.invoke(function_name, event, headers)
            if not headers:
                return
        if on_undelivered is None:
            raise AssertionError(f"SNS delivery to {function_name} failed: {payload!r}")
        on_undelivered(function_name, message, payload)

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
    LambdaSimpleBackend.send_sns_message = send_sns_message  # type: ignore[method-assign]

    def restore() -> None:
        LambdaSimpleBackend.invoke = original_invoke  # type: ignore[method-assign]
        LambdaSimpleBackend.send_sns_message = original_sns  # type: ignore[method-assign]

    return restore
