"""The thread that keeps delivering what the outbox holds, shared by Kinesis and S3."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from walkout_edge.uplink.outbox import Outbox, OutboxError

# While idle, the loop re-checks the queue this often even without a wake-up (belt and
# braces: a missed notification costs at most this much latency, never a stall).
IDLE_POLL_S = 1.0


class Delivery(Protocol):
    """One destination's work: how much waits, and one attempt at delivering the next batch."""

    name: str

    def pending(self) -> int:
        """Items waiting in this destination's queue."""

    def step(self, draining: bool) -> float:
        """Try to deliver the next batch; return seconds to wait before the next try."""


class DeliveryLoop:
    """Runs `delivery.step()` while the outbox has work; sleeps on the outbox when it has none.

    `finish(deadline)` turns it into a drain: it stops once its queue is empty or at the
    deadline (None: only when empty); `halt()` stops it at the next step. An `OutboxError`
    (damaged file, disk refusing writes) is fatal: it is kept in `error` and reported
    through `on_fatal`, and the loop ends; everything not yet delivered stays on disk.
    """

    def __init__(
        self,
        delivery: Delivery,
        outbox: Outbox,
        *,
        on_fatal: Callable[[BaseException], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.delivery = delivery
        self.name = delivery.name
        self.outbox = outbox
        self.error: BaseException | None = None
        self._on_fatal = on_fatal
        self._clock = clock
        self._halt = threading.Event()
        # Set by `finish` and `halt` to cut a backoff sleep short (then cleared again).
        self._interrupt = threading.Event()
        self._finishing = threading.Event()
        self._deadline: float | None = None
        self._thread: threading.Thread | None = None
        self.log = logging.getLogger(f"walkout_edge.uplink.{self.name}")

    def pending(self) -> int:
        return self.delivery.pending()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def finish(self, deadline: float | None = None) -> None:
        self._deadline = deadline
        self._finishing.set()
        self._wake()

    def halt(self) -> None:
        self._halt.set()
        self._wake()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True if it ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _wake(self) -> None:
        self._interrupt.set()
        with self.outbox.changed:
            self.outbox.changed.notify_all()

    def _past_deadline(self) -> bool:
        return self._deadline is not None and self._clock() >= self._deadline

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                finishing = self._finishing.is_set()
                if finishing and (self.pending() == 0 or self._past_deadline()):
                    return
                if self.pending() == 0:
                    self.outbox.wait_until(
                        lambda: (
                            self.pending() > 0 or self._halt.is_set() or self._finishing.is_set()
                        ),
                        IDLE_POLL_S,
                    )
                    continue
                delay = self.delivery.step(draining=finishing)
                if delay > 0:
                    if finishing and self._deadline is not None:
                        delay = min(delay, max(0.0, self._deadline - self._clock()))
                    self._interrupt.wait(delay)
                    self._interrupt.clear()
        except OutboxError as exc:
            self.error = exc
            self.log.error("outbox failed", extra={"error": str(exc)})
            if self._on_fatal is not None:
                self._on_fatal(exc)
        except Exception as exc:
            self.error = exc
            self.log.exception("delivery loop crashed")
            if self._on_fatal is not None:
                self._on_fatal(exc)
