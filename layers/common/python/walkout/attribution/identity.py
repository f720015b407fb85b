"""Who a track really is, after the moments two people could not be told apart.

A `track.ambiguity` between tracks A and B with swap probability p means that from then on
the track labelled A follows B's person with probability p. Identities are distributions
over sessions; one ambiguity mixes the two tracks' distributions:

    id_A' = (1 - p) * id_A + p * id_B        id_B' = (1 - p) * id_B + p * id_A

applied in the order the ambiguities ended (`t_end`, then `event_id`: the edge reports one
when the two people separate, naming the tracks by the labels they carry then) for every
ambiguity that began before the shelf change ended. Chains (A with B, then B with C)
propagate naturally. `None` stands
for "no session" (a person never bound to a scan).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

Identity = dict[str | None, float]


@dataclass(frozen=True)
class Ambiguity:
    """One `track.ambiguity`, with the sessions its tracks belonged to when it happened."""

    event_id: str
    t_start: datetime
    t_end: datetime
    track_a: str
    track_b: str
    swap_probability: float
    session_a: str | None
    session_b: str | None


def _mix(a: Identity, b: Identity, p: float) -> Identity:
    out: Identity = {}
    for key, value in a.items():
        out[key] = out.get(key, 0.0) + (1 - p) * value
    for key, value in b.items():
        out[key] = out.get(key, 0.0) + p * value
    return {k: v for k, v in out.items() if v > 1e-12}


def identities(
    tracks: Mapping[str, str | None],
    ambiguities: Iterable[Ambiguity],
    before: datetime,
) -> dict[str, Identity]:
    """Identity of each track in `tracks` (track -> its bound session) at time `before`.

    Tracks met in an ambiguity but absent from `tracks` take the session the ambiguity
    recorded for them.
    """
    ids: dict[str, Identity] = {t: {s: 1.0} for t, s in tracks.items()}
    for amb in sorted(ambiguities, key=lambda a: (a.t_end, a.event_id)):
        if amb.t_start > before:
            continue
        if amb.swap_probability <= 0:
            continue
        a = ids.get(amb.track_a, {amb.session_a: 1.0})
        b = ids.get(amb.track_b, {amb.session_b: 1.0})
        ids[amb.track_a] = _mix(a, b, amb.swap_probability)
        ids[amb.track_b] = _mix(b, a, amb.swap_probability)
    return {t: ids[t] for t in tracks}


def bound_later(
    ambiguities: Iterable[Ambiguity], track_sessions: Mapping[str, str]
) -> list[Ambiguity]:
    """The ambiguities with a track that had no session when they were recorded, but is
    bound to one now, given that session.

    The edge may send a `session.entered` after an ambiguity that began before it (the
    binding waits for the scan), so "no session" then may only mean "not bound yet"."""
    out = []
    for amb in ambiguities:
        a = amb.session_a or track_sessions.get(amb.track_a)
        b = amb.session_b or track_sessions.get(amb.track_b)
        out.append(
            amb
            if (a, b) == (amb.session_a, amb.session_b)
            else replace(amb, session_a=a, session_b=b)
        )
    return out


def shaping(
    ambiguities: Iterable[Ambiguity], tracks: Iterable[str], before: datetime
) -> list[Ambiguity]:
    """The ambiguities that shape the identities of `tracks` at `before`, in the order
    `identities` applies them: exactly those whose mixing reaches one of `tracks` by then.

    Walking back from the last ambiguity applied: one with a track already needed is
    needed, and from then on (earlier in the order) its other track is needed too, since
    that track's identity at that moment was mixed in. A later ambiguity of that other
    track changes only what it became afterwards. So `identities(tracks, shaping(...))`
    equals `identities(tracks, all of them)`, with a set that stays small in a crowded
    store where nearly every track is linked to every other through some chain.
    """
    ordered = sorted(
        (a for a in ambiguities if a.t_start <= before and a.swap_probability > 0),
        key=lambda a: (a.t_end, a.event_id),
    )
    needed = set(tracks)
    chosen: list[Ambiguity] = []
    for amb in reversed(ordered):
        if amb.track_a in needed or amb.track_b in needed:
            chosen.append(amb)
            needed.update((amb.track_a, amb.track_b))
    chosen.reverse()
    return chosen
