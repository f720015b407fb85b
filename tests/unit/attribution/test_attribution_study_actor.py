"""The study's actor top-1 figure: who the edge's reach score and the who model name."""

from __future__ import annotations

from attribution_support import ShelfEventFactory

from benchmarks.attribution.derive import Derived, EventTruth
from benchmarks.attribution_study import _actor_top1
from walkout.attribution import DEFAULT_PARAMS


def _truth(actor: str | None) -> EventTruth:
    return EventTruth(
        session_id="ses-a", sku="cola", qty=1, kind="pick", misplaced=False, foreign=False,
        actor_track=actor,
    )  # fmt: skip


def test_only_events_with_a_listed_actor_count_and_each_names_its_top_candidate(
    shelf_event: ShelfEventFactory,
) -> None:
    named = shelf_event("L1", -355.0, [("trk-a", "ses-a", 0.9, 0.4), ("trk-b", "ses-b", 0.2, 1.1)])
    # The bystander is closer and scores higher: both the edge and the model name it.
    fooled = shelf_event("L2", -120.0, [("trk-a", "ses-a", 0.1, 1.2), ("trk-b", "ses-b", 0.9, 0.3)])
    missed = shelf_event("L3", -80.0, [("trk-b", "ses-b", 0.9, 0.3)])
    derived = Derived(
        events=[named, fooled, missed],
        truth={
            named.event_id: _truth("trk-a"),
            fooled.event_id: _truth("trk-a"),
            missed.event_id: _truth(None),  # the tracker missed the actor: not counted
        },
        receipts={},
    )
    assert _actor_top1(derived, DEFAULT_PARAMS) == [(True, True), (False, False)]
