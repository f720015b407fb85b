"""One store's live state during one batch, read lazily and kept in step with the writes.

Kinesis delivers a store's records (one partition key) to one invocation at a time and in
order, so within an invocation this copy is authoritative: it is read from DynamoDB the
first time a piece is needed and updated in memory only after the write that changes it
succeeded. Every conditional write still checks what it assumed (`rev`, `status`), so a
second writer could never be silently overwritten.

Ambiguities are the one exception: each is kept here at once and written with others in
one request (`write_ambiguities`: before the table is read for them, and at the end of the
batch). Only the ingest reads them, and a batch whose last write fails fails as a whole,
so Kinesis delivers its records again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from walkout.attribution import Ambiguity, Floor
from walkout.data.ingest import IngestTable, Watermark
from walkout.data.sessions import (
    AMBIGUITY_HORIZON,
    CartRecord,
    LaneMemory,
    SessionRecord,
    SessionsTable,
)
from walkout.definition import StoreDefinition
from walkout.ingest.lifecycle import SessionStatus

# Ambiguities are read from this long before the earliest entry of a session that can still be
# charged: a shopper's track is born at the entrance a moment before the scan binds it.
BEFORE_ENTRY = timedelta(minutes=2)


class StoreState:
    def __init__(
        self,
        definition: StoreDefinition,
        floor: Floor,
        sessions: SessionsTable,
        ingest: IngestTable,
    ) -> None:
        self.store_id = definition.store.store_id
        self.definition = definition
        self.floor = floor
        self._table = sessions
        self._ingest = ingest
        self.sessions: dict[str, SessionRecord] = {}
        self.carts: dict[str, CartRecord] = {}
        self._missing: set[str] = set()  # sessions known not to exist
        self._open_listed = False
        self._closing: dict[str, SessionRecord] | None = None
        self._watermarks: dict[str, Watermark] | None = None
        self._lanes: dict[str, LaneMemory] | None = None
        self._ambiguities: dict[str, Ambiguity] | None = None
        self._ambiguities_since: datetime | None = None
        self._ambiguities_floor = datetime.min.replace(tzinfo=UTC)
        self._unwritten: dict[str, Ambiguity] = {}
        self._listed: dict[SessionStatus, list[SessionRecord]] = {}

    # sessions ------------------------------------------------------------------------------

    def session(self, session_id: str) -> SessionRecord | None:
        if session_id in self.sessions:
            return self.sessions[session_id]
        if session_id in self._missing:
            return None
        found = self._table.get_session(self.store_id, session_id)
        if found is None:
            self._missing.add(session_id)
        else:
            self.sessions[session_id] = found
            self._entered(found)
        return found

    def load(self, session_ids: Iterable[str]) -> None:
        """Read the sessions and carts not yet here, in one batch read."""
        wanted = {s for s in session_ids if s not in self.carts and s not in self._missing}
        if not wanted:
            return
        sessions, carts = self._table.get_sessions_with_carts(self.store_id, wanted)
        for sid in wanted:
            if sid in sessions and sid not in self.sessions:
                self.sessions[sid] = sessions[sid]
                self._entered(sessions[sid])
            if sid in carts:
                self.carts[sid] = carts[sid]
            if sid not in sessions:
                self._missing.add(sid)

    def cart(self, session_id: str) -> CartRecord | None:
        self.load([session_id])
        return self.carts.get(session_id)

    def remember(self, session: SessionRecord, cart: CartRecord | None = None) -> None:
        self.sessions[session.session_id] = session
        self._missing.discard(session.session_id)
        self._entered(session)
        if cart is not None:
            self.carts[session.session_id] = cart
        if self._closing is not None:
            if session.status is SessionStatus.CLOSING:
                self._closing[session.session_id] = session
            else:
                self._closing.pop(session.session_id, None)

    def track_sessions(self) -> dict[str, str]:
        """Track -> session for every open session of the store."""
        if not self._open_listed:
            for s in self._list(SessionStatus.OPEN):
                self.sessions.setdefault(s.session_id, s)
            self._open_listed = True
        return {
            track: s.session_id
            for s in self.sessions.values()
            if s.status is not SessionStatus.READY
            for track in s.tracks
        }

    def closing(self) -> dict[str, SessionRecord]:
        """Sessions whose tracks all left, waiting for the watermarks."""
        if self._closing is None:
            self._closing = {}
            for s in self._list(SessionStatus.CLOSING):
                known = self.sessions.setdefault(s.session_id, s)
                if known.status is SessionStatus.CLOSING:
                    self._closing[s.session_id] = known
            for s in self.sessions.values():
                if s.status is SessionStatus.CLOSING:
                    self._closing[s.session_id] = s
        return self._closing

    def _list(self, status: SessionStatus) -> list[SessionRecord]:
        """The store's sessions with `status` in the status index, read once per batch (the
        in-memory records, kept in step with this batch's writes, say what they are now)."""
        if status not in self._listed:
            self._listed[status] = self._table.list_sessions(self.store_id, status)
        return self._listed[status]

    # watermarks ----------------------------------------------------------------------------

    def watermarks(self) -> dict[str, Watermark]:
        if self._watermarks is None:
            self._watermarks = self._ingest.watermarks(self.store_id)
        return self._watermarks

    # lanes and ambiguities -----------------------------------------------------------------

    def lane(self, lane_id: str) -> LaneMemory:
        if self._lanes is None:
            self._lanes = self._table.lanes(self.store_id)
        return self._lanes.get(lane_id) or LaneMemory(store_id=self.store_id, lane_id=lane_id)

    def remember_lane(self, lane: LaneMemory) -> None:
        if self._lanes is None:
            self._lanes = self._table.lanes(self.store_id)
        self._lanes[lane.lane_id] = lane

    def ambiguities(self, around: datetime) -> list[Ambiguity]:
        """The ambiguity intervals that can matter for a shelf change at `around`: those
        since the earliest entry of a session that can still be charged (open or closing),
        less BEFORE_ENTRY, and within AMBIGUITY_HORIZON.

        Leaving out the older ones changes no chargeable session's share, provided every
        track of a chargeable session existed at most BEFORE_ENTRY before the session's
        entry. The edge binds a track at the gate within its scan window (60 s, see
        `walkout_edge.perception.gates`), so the people in an older ambiguity belong to
        sessions that are closed now, or to none. An ambiguity only mixes two tracks'
        session distributions, and the attribution folds every session that cannot be
        charged into "no session" (`_only_open`), so what an older ambiguity moved between
        those folds into the same "no session" either way. Not covered: a track that joins
        a session (`session.joined`) after more than BEFORE_ENTRY in the store. The stored
        record's reasons may name fewer ambiguities; its probabilities are the same. On a
        busy day this reads the last few minutes instead of every ambiguity of the day.

        A chargeable session that began before the window and turns up later in the batch
        (the status index lags) clears what was read (`ambiguities_read` turns False): the
        next call reads again from earlier."""
        if self._ambiguities is None:
            self.write_ambiguities()
            since = self._ambiguity_start(around)
            self._ambiguities = {
                a.event_id: a for a in self._table.ambiguities(self.store_id, since)
            }
            self._ambiguities_since = since
        return list(self._ambiguities.values())

    @property
    def ambiguities_read(self) -> bool:
        return self._ambiguities is not None

    def _ambiguity_start(self, around: datetime) -> datetime:
        # The index's copies are read for their entry times only, not put in `sessions`.
        listed = [
            s.entered_at
            for status in (SessionStatus.OPEN, SessionStatus.CLOSING)
            for s in self._list(status)
        ]
        known = [
            s.entered_at for s in self.sessions.values() if s.status is not SessionStatus.READY
        ]
        first = min([around, *listed, *known])
        self._ambiguities_floor = around - AMBIGUITY_HORIZON
        return max(self._ambiguities_floor, first - BEFORE_ENTRY)

    def _entered(self, session: SessionRecord) -> None:
        """A chargeable session that began before the ambiguities read cover: read again."""
        if (
            self._ambiguities_since is not None
            and session.status is not SessionStatus.READY
            and max(session.entered_at - BEFORE_ENTRY, self._ambiguities_floor)
            < self._ambiguities_since
        ):
            self._ambiguities = None
            self._ambiguities_since = None

    def remember_ambiguity(self, ambiguity: Ambiguity) -> None:
        """Keep a reported ambiguity; it is written with others (`write_ambiguities`)."""
        self._unwritten[ambiguity.event_id] = ambiguity
        if self._ambiguities is not None:
            self._ambiguities[ambiguity.event_id] = ambiguity

    def write_ambiguities(self) -> None:
        """Store the ambiguities kept since the last write; they stay kept if it fails."""
        if self._unwritten:
            self._table.put_ambiguities(self.store_id, list(self._unwritten.values()))
            self._unwritten.clear()
