"""Function containers in processes of their own, so the functions' Python work runs beside
moto's instead of taking turns with it under one interpreter lock.

The local cloud is one process: moto's server, its Step Functions interpreter, the Kinesis
pump, the simulated reviewers, and (by default) every function's handler, called on the
thread that invoked it. On `stadium-rush` that process used one core for the whole run
(914 s of CPU time in 957 s, fed the events at the edge's pace, profiled) while the machine's
second core sat idle once the edge's part had ended. With a `ContainerPool`, the
dispatcher hands each invocation to a worker process (`python -m localcloud.containers`):
it loads the handler as Lambda does (`localcloud.dispatch.load_module`, once per
container), runs it with the same event and a Lambda context, and sends back the result or
the exception's class name and message, so the caller sees what an in-process call (and
Lambda's `FunctionError`) would show. The
workers inherit the runtime's environment at the moment they start (endpoint,
credentials, the deployment's resource names), and reach the endpoint over HTTP like the
edge daemon does.

A worker handles one invocation at a time, as a Lambda execution environment does. The
pool starts workers when none is idle, up to `size`; an invocation that finds every
worker busy runs in the calling process instead, as before, so nested invocations (a
function whose SNS publish invokes another) can never wait for each other.

Wire format on the worker's stdin and a pipe of its own: a 4-byte big-endian length, then
JSON (`{"suffix", "event"}` in; `{"result", "ms"}` or `{"error": {"type", "message"},
"ms"}` out). The worker's stdout and stderr (the handlers' log lines) go to the function
log.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
_LENGTH = struct.Struct(">I")
# Exit status of a worker whose caller closed its stdin (the pool stopped it).
_STOPPED = 0
# How long stopping waits for a worker to exit before it is killed.
STOP_WAIT_S = 5.0


class FunctionError(Exception):
    """A function raised in its container; `error_type` is the exception's class name, as
    Lambda reports it (`errorType`), which the state machine's Retry and Catch match."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class ContainerLostError(FunctionError):
    """The worker process ended during an invocation (Lambda: `Runtime.ExitError`)."""

    def __init__(self, detail: str) -> None:
        super().__init__("Runtime.ExitError", detail)


@dataclass(frozen=True)
class Outcome:
    """What one invocation in a container gave: a result or an error, and the handler's
    own run time (what Lambda bills)."""

    result: Any
    error: Exception | None
    ms: float


def _send(stream: IO[bytes], message: Any) -> None:
    body = json.dumps(message).encode()
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any | None:
    """The next message, or None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    body = stream.read(length)
    if len(body) < length:
        return None
    return json.loads(body)


class Worker:
    """One container process."""

    def __init__(self, prefix: str, memory_mb: dict[str, int], log: IO[str] | None) -> None:
        # The pool's generation when it started this worker (`ContainerPool.recycle`).
        self.generation = 0
        read_fd, write_fd = os.pipe()
        environment = dict(os.environ)
        path = environment.get("PYTHONPATH")
        environment["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
        environment["PYTHONUNBUFFERED"] = "1"
        log_fd = log.fileno() if log is not None and _has_fileno(log) else None
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                [
                    sys.executable,
                    "-m",
                    "localcloud.containers",
                    json.dumps({"prefix": prefix, "memory_mb": memory_mb, "reply_fd": write_fd}),
                ],
                stdin=subprocess.PIPE,
                stdout=log_fd,
                stderr=log_fd,
                env=environment,
                cwd=ROOT,
                pass_fds=(write_fd,),
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        assert self.process.stdin is not None
        self._requests: IO[bytes] = self.process.stdin
        self._replies: IO[bytes] = os.fdopen(read_fd, "rb")

    def invoke(self, suffix: str, event: Any) -> Outcome:
        try:
            _send(self._requests, {"suffix": suffix, "event": event})
            reply = _receive(self._replies)
        except OSError as exc:  # a broken pipe too
            raise ContainerLostError(f"the function's worker process is gone: {exc}") from None
        if reply is None:
            status = self.process.poll()
            raise ContainerLostError(f"the function's worker process exited (status {status})")
        error = reply.get("error")
        if error is not None:
            failure = FunctionError(str(error["type"]), str(error["message"]))
            return Outcome(None, failure, float(reply["ms"]))
        return Outcome(reply.get("result"), None, float(reply["ms"]))

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._requests.close()
        try:
            self.process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._replies.close()


def _has_fileno(stream: IO[str]) -> bool:
    try:
        stream.fileno()
    except (OSError, ValueError, AttributeError):
        return False
    return True


class ContainerPool:
    """Up to `size` worker processes, started when needed (see the module doc)."""

    def __init__(
        self,
        prefix: str,
        memory_mb: dict[str, int],
        *,
        size: int,
        log: IO[str] | None = None,
        worker: Callable[[str, dict[str, int], IO[str] | None], Worker] = Worker,
    ) -> None:
        if size < 1:
            raise ValueError(f"container pool size {size}: must be at least 1")
        self.prefix = prefix
        self.memory_mb = dict(memory_mb)
        self.size = size
        self.log = log
        self._make = worker
        self._idle: list[Worker] = []
        self._busy = 0
        self._lock = threading.Lock()
        self._closed = False
        # Workers started before the last `recycle()` are stopped when given back.
        self._generation = 0
        self.started = 0

    def take(self) -> Worker | None:
        """An idle worker (started if there is room), or None when all `size` are busy."""
        dead: list[Worker] = []
        found: Worker | None = None
        with self._lock:
            if self._closed:
                return None
            while self._idle and found is None:
                worker = self._idle.pop()
                if worker.alive():
                    found = worker
                else:
                    dead.append(worker)
            room = found is None and self._busy < self.size
            if found is not None or room:
                self._busy += 1
        for worker in dead:
            worker.stop()
        if found is not None or not room:
            return found
        try:
            worker = self._make(self.prefix, self.memory_mb, self.log)
        except Exception:
            with self._lock:
                self._busy -= 1
            raise
        with self._lock:
            self.started += 1
            worker.generation = self._generation
        return worker

    def give_back(self, worker: Worker, *, healthy: bool) -> None:
        with self._lock:
            self._busy -= 1
            current = worker.generation == self._generation
            if healthy and current and not self._closed and worker.alive():
                self._idle.append(worker)
                return
        worker.stop()

    def recycle(self) -> None:
        """Every invocation from now on runs in a new worker (fresh per-container globals):
        the idle workers stop now, the busy ones when they are given back."""
        with self._lock:
            self._generation += 1
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    def close(self) -> None:
        """Stop for good: idle workers now, busy ones when given back; later invocations
        run in the calling process."""
        with self._lock:
            self._closed = True
        self.recycle()


# --- the worker process ----------------------------------------------------------------------


def _serve(prefix: str, memory_mb: dict[str, int], replies: IO[bytes]) -> int:
    # Imported here: `localcloud.dispatch` imports this module.
    from localcloud.dispatch import Dispatcher  # noqa: PLC0415

    dispatcher = Dispatcher(prefix=prefix, memory_mb=memory_mb)
    requests = sys.stdin.buffer
    while True:
        request = _receive(requests)
        if request is None:
            return _STOPPED
        started = time.perf_counter()
        try:
            outcome = dispatcher.run_here(str(request["suffix"]), request["event"])
        except Exception as exc:  # the handler could not be loaded
            outcome = Outcome(None, exc, (time.perf_counter() - started) * 1000)
        error = outcome.error
        reply: dict[str, Any] = (
            {"result": outcome.result}
            if error is None  # else reported to the caller, as Lambda reports it
            else {"error": {"type": type(error).__name__, "message": str(error)[:2000]}}
        )
        reply["ms"] = outcome.ms
        try:
            _send(replies, reply)
        except (TypeError, ValueError) as exc:  # a result JSON cannot hold
            failure = {"type": "Runtime.MarshalError", "message": str(exc)[:2000]}
            _send(replies, {"error": failure, "ms": reply["ms"]})


def main(argv: list[str]) -> int:
    settings = json.loads(argv[0])
    replies = os.fdopen(int(settings["reply_fd"]), "wb")
    return _serve(str(settings["prefix"]), dict(settings["memory_mb"]), replies)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
