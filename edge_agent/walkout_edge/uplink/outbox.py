"""The durable outbox: every event and evidence image is on disk before it counts as produced.

Why SQLite (WAL, `synchronous=FULL`) and not an append-only log of our own:
- An event and its evidence images are committed in one transaction: after a crash either
  all of them are queued or none is, so no event points at an image that was never queued.
- `synchronous=FULL` fsyncs the write-ahead log on every commit, so a commit survives a
  power cut, not only a crash of the process (`NORMAL` in WAL mode may roll back the last
  commits on power loss: the pipeline would have moved on believing them produced).
- Rows leave the queue by primary key when Kinesis or S3 accepted them; SQLite reuses the
  freed pages, where a log would need segment files, compaction and its own recovery code.
- Small blobs (evidence JPEGs of tens of kB) read and write faster in SQLite than as
  separate files, and `PRAGMA quick_check` gives a corruption check at start-up.
The price is one fsync per commit (about 2 ms on the store box's disk class); batches of
events that are due together share one commit (`enqueue` takes a list).

Order: `pos` (the rowid) grows with every insert and rows are only ever deleted, so reading
by `pos` returns events in the order they were produced. `devices.last_seq` keeps the last
sequence number enqueued per device across restarts; an event that does not increase it is
refused, which both guards the contract (`seq` strictly increases per device) and tells a
replay where to resume.

One process at a time: an exclusive `flock` on `<outbox>.lock` (released by the kernel when
the process dies, also on `kill -9`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

OUTBOX_SCHEMA: Final = "walkout.outbox/1"
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
# Bound on one read from the queue; the producer never needs more than one request's worth.
_PAGE_ROWS: Final = 512

_DDL: Final = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    # pos is the rowid: a new row always gets max(pos)+1, so pos order is production order.
    "CREATE TABLE events ("
    " pos INTEGER PRIMARY KEY,"
    " event_id TEXT NOT NULL,"
    " partition_key TEXT NOT NULL,"
    " device_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " body BLOB NOT NULL,"
    " enqueued_at REAL NOT NULL)",
    "CREATE TABLE evidence ("
    " pos INTEGER PRIMARY KEY,"
    " s3_key TEXT NOT NULL,"
    " event_id TEXT NOT NULL,"
    " jpeg BLOB NOT NULL,"
    " enqueued_at REAL NOT NULL)",
    "CREATE TABLE devices (device_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID",
)


class OutboxError(RuntimeError):
    """The outbox cannot be used; the message says which file and why."""


class OutboxCorruptError(OutboxError):
    """The file is not a readable Walkout outbox (damaged, foreign, or another store's)."""


class OutboxUnwritableError(OutboxError):
    """The disk refuses writes (permissions, read-only, full, I/O error)."""


class OutboxLockedError(OutboxError):
    """Another process has the outbox open."""


class SequenceError(ValueError):
    """An event whose `seq` does not increase its device's last enqueued `seq`."""


@dataclass(frozen=True)
class PendingEvent:
    """One event to enqueue: the serialized record and what the queue indexes it by."""

    event_id: str
    partition_key: str
    device_id: str
    seq: int
    body: bytes
    evidence: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True)
class QueuedEvent:
    pos: int
    partition_key: str
    body: bytes


@dataclass(frozen=True)
class QueuedEvidence:
    pos: int
    key: str
    jpeg: bytes


def _describe(exc: sqlite3.Error) -> str:
    return str(exc) or type(exc).__name__


def _translate(path: Path, exc: sqlite3.Error, doing: str) -> OutboxError:
    text = _describe(exc)
    lowered = text.lower()
    if isinstance(exc, sqlite3.DatabaseError) and (
        "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered
    ):
        return OutboxCorruptError(f"outbox {path}: {doing}: the file is damaged ({text})")
    if any(
        word in lowered
        for word in ("readonly", "read-only", "disk is full", "i/o error", "unable to open")
    ):
        return OutboxUnwritableError(f"outbox {path}: {doing}: the disk refuses it ({text})")
    return OutboxError(f"outbox {path}: {doing}: {text}")


class Outbox:
    """The on-disk queue of one store box: events for Kinesis, evidence images for S3.

    Thread-safe: each thread gets its own SQLite connection; writes are serialized by one
    lock so that writers never wait in SQLite's sleeping busy handler.
    """

    def __init__(
        self,
        path: Path,
        *,
        store_id: str,
        depth_threshold: int = 10_000,
        check: bool = True,
    ) -> None:
        self.path = path
        self.store_id = store_id
        self.depth_threshold = depth_threshold
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self.changed = threading.Condition()
        self._lock_file = self._acquire_process_lock()
        try:
            self._event_depth = self._evidence_depth = 0
            self._prepare(check)
            self.recount()
        except sqlite3.Error as exc:
            self.close()
            raise _translate(path, exc, "opening") from None
        except BaseException:
            self.close()
            raise

    # --- opening ------------------------------------------------------------------------

    def _acquire_process_lock(self) -> IO[bytes]:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutboxUnwritableError(
                f"outbox {self.path}: cannot create directory {directory} ({exc.strerror})"
            ) from None
        if not os.access(directory, os.W_OK | os.X_OK):
            raise OutboxUnwritableError(
                f"outbox {self.path}: directory {directory} is not writable"
            )
        if self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK):
            raise OutboxUnwritableError(
                f"outbox {self.path}: the file is not readable and writable"
            )
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            lock_file = lock_path.open("ab")
        except OSError as exc:
            raise OutboxUnwritableError(
                f"outbox {self.path}: cannot create lock file {lock_path} ({exc.strerror})"
            ) from None
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise OutboxLockedError(
                f"outbox {self.path}: in use by another walkout-edge process"
            ) from None
        return lock_file

    def _prepare(self, check: bool) -> None:
        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists:
            with self.path.open("rb") as f:
                header = f.read(len(_SQLITE_MAGIC))
            if header != _SQLITE_MAGIC:
                raise OutboxCorruptError(
                    f"outbox {self.path}: not an SQLite database (damaged or a foreign file); "
                    "move it aside to keep its data for inspection, then restart"
                )
        conn = self._conn()
        if exists and check:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise OutboxCorruptError(
                    f"outbox {self.path}: integrity check failed ({problems[0]}"
                    + (f" and {len(problems) - 1} more" if len(problems) > 1 else "")
                    + "); move it aside to keep its data for inspection, then restart"
                )
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not tables:
            with self._write_lock:
                conn.execute("BEGIN IMMEDIATE")
                for statement in _DDL:
                    conn.execute(statement)
                conn.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("schema", OUTBOX_SCHEMA), ("store_id", self.store_id)],
                )
                conn.execute("COMMIT")
            return
        meta: dict[str, str] = {}
        if "meta" in tables:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("schema") != OUTBOX_SCHEMA:
            raise OutboxCorruptError(
                f"outbox {self.path}: an SQLite file that is not a Walkout outbox "
                f"(schema {meta.get('schema')!r}, expected {OUTBOX_SCHEMA!r})"
            )
        if meta.get("store_id") != self.store_id:
            raise OutboxCorruptError(
                f"outbox {self.path}: holds events of store {meta.get('store_id')!r}, "
                f"not of {self.store_id!r}; give this store its own outbox_path"
            )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise OutboxError(f"outbox {self.path}: already closed")
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            # The write-ahead log lets the producer read while the pipeline writes;
            # FULL makes each commit durable across power loss (see the module docstring).
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxUnwritableError(
                    f"outbox {self.path}: the file system does not support SQLite's WAL mode"
                )
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise _translate(self.path, exc, "opening") from None
        self._local.conn = conn
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def close(self) -> None:
        self._closed = True
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        lock_file = getattr(self, "_lock_file", None)
        if lock_file is not None and not lock_file.closed:
            lock_file.close()

    # --- writing ------------------------------------------------------------------------

    def enqueue(self, items: Sequence[PendingEvent]) -> None:
        """Commit events (with their evidence) in one transaction, in the given order.

        Returns only once the commit is on disk; raises `SequenceError` (nothing written)
        if an event's seq does not increase its device's last enqueued seq.
        """
        if not items:
            return
        now = time.time()
        evidence_count = sum(len(item.evidence) for item in items)
        with self._write_lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    last: dict[str, int | None] = {}
                    for item in items:
                        if item.device_id not in last:
                            last[item.device_id] = self._last_seq(conn, item.device_id)
                        previous = last[item.device_id]
                        if previous is not None and item.seq <= previous:
                            raise SequenceError(
                                f"event {item.event_id}: seq {item.seq} of device "
                                f"{item.device_id!r} does not follow the last enqueued seq "
                                f"{previous} (seq must strictly increase per device)"
                            )
                        last[item.device_id] = item.seq
                    conn.executemany(
                        "INSERT INTO events (event_id, partition_key, device_id, seq, body,"
                        " enqueued_at) VALUES (?, ?, ?, ?, ?, ?)",
                        [
                            (i.event_id, i.partition_key, i.device_id, i.seq, i.body, now)
                            for i in items
                        ],
                    )
                    if evidence_count:
                        conn.executemany(
                            "INSERT INTO evidence (s3_key, event_id, jpeg, enqueued_at)"
                            " VALUES (?, ?, ?, ?)",
                            [
                                (key, item.event_id, jpeg, now)
                                for item in items
                                for key, jpeg in item.evidence
                            ],
                        )
                    conn.executemany(
                        "INSERT INTO devices (device_id, last_seq) VALUES (?, ?)"
                        " ON CONFLICT (device_id) DO UPDATE SET last_seq = excluded.last_seq",
                        [(device, seq) for device, seq in last.items()],
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    # SQLite has already rolled back after some errors (a full disk).
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise _translate(self.path, exc, "writing events") from None
            self._event_depth += len(items)
            self._evidence_depth += evidence_count
        with self.changed:
            self.changed.notify_all()

    @staticmethod
    def _last_seq(conn: sqlite3.Connection, device_id: str) -> int | None:
        row = conn.execute("SELECT last_seq FROM devices WHERE device_id = ?", (device_id,))
        found = row.fetchone()
        return None if found is None else int(found[0])

    def ack_events(self, positions: Sequence[int]) -> None:
        """Remove events Kinesis accepted."""
        self._delete("events", positions)
        with self._write_lock:
            self._event_depth -= len(positions)

    def ack_evidence(self, positions: Sequence[int]) -> None:
        """Remove evidence images S3 stored."""
        self._delete("evidence", positions)
        with self._write_lock:
            self._evidence_depth -= len(positions)

    def _delete(self, table: str, positions: Sequence[int]) -> None:
        if not positions:
            return
        with self._write_lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(
                        f"DELETE FROM {table} WHERE pos = ?",  # noqa: S608 - fixed table names
                        [(p,) for p in positions],
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    # SQLite has already rolled back after some errors (a full disk).
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise _translate(self.path, exc, f"removing delivered {table}") from None

    # --- reading ------------------------------------------------------------------------

    def iter_events(self) -> Iterator[QueuedEvent]:
        """Queued events, oldest first, read page by page (stop iterating at any time)."""
        after = 0
        while True:
            try:
                rows = (
                    self._conn()
                    .execute(
                        "SELECT pos, partition_key, body FROM events WHERE pos > ?"
                        " ORDER BY pos LIMIT ?",
                        (after, _PAGE_ROWS),
                    )
                    .fetchall()
                )
            except sqlite3.Error as exc:
                raise _translate(self.path, exc, "reading events") from None
            for pos, partition_key, body in rows:
                yield QueuedEvent(int(pos), str(partition_key), bytes(body))
            if len(rows) < _PAGE_ROWS:
                return
            after = int(rows[-1][0])

    def peek_evidence(self, limit: int) -> list[QueuedEvidence]:
        try:
            rows = (
                self._conn()
                .execute("SELECT pos, s3_key, jpeg FROM evidence ORDER BY pos LIMIT ?", (limit,))
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise _translate(self.path, exc, "reading evidence") from None
        return [QueuedEvidence(int(p), str(k), bytes(j)) for p, k, j in rows]

    def last_seq(self, device_id: str) -> int | None:
        """The last seq enqueued for `device_id` (kept after its events were delivered)."""
        try:
            return self._last_seq(self._conn(), device_id)
        except sqlite3.Error as exc:
            raise _translate(self.path, exc, "reading sequence numbers") from None

    def oldest_age_s(self) -> float | None:
        """Seconds the oldest queued event has waited, or None when the queue is empty."""
        try:
            row = (
                self._conn()
                .execute("SELECT enqueued_at FROM events ORDER BY pos LIMIT 1")
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise _translate(self.path, exc, "reading events") from None
        return None if row is None else max(0.0, time.time() - float(row[0]))

    def recount(self) -> None:
        """Set the depths from the tables (they are kept as counters between reads)."""
        try:
            conn = self._conn()
            with self._write_lock:
                self._event_depth = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
                self._evidence_depth = int(
                    conn.execute("SELECT COUNT(*) FROM evidence").fetchone()[0]
                )
        except sqlite3.Error as exc:
            raise _translate(self.path, exc, "counting") from None

    @property
    def depth(self) -> int:
        """Events waiting for Kinesis."""
        return self._event_depth

    @property
    def evidence_depth(self) -> int:
        """Evidence images waiting for S3."""
        return self._evidence_depth

    @property
    def over_threshold(self) -> bool:
        return self._event_depth >= self.depth_threshold

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Sleep until `ready()` (checked after every enqueue) or `timeout` seconds passed."""
        with self.changed:
            return self.changed.wait_for(ready, timeout)
