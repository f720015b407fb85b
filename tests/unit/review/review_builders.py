"""A sample review task (two uncertain events of session s-1) for review unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from walkout.attribution.record import Action
from walkout.config import ReviewBackend
from walkout.review.contract import (
    EventQuestion,
    PresentPerson,
    ProductCandidate,
    ReviewTask,
    ShopperCandidate,
)

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
EVIDENCE = [
    "s3://walkout-dev-evidence-123456789012-eu-west-1/stores/store-1/evidence/E1/reach-cam-1.jpg",
    "s3://walkout-dev-evidence-123456789012-eu-west-1/stores/store-1/evidence/E1/reach-cam-2.jpg",
]
# Shopper B's two people at the entry gate (their session.entered's evidence).
LOOKS = [
    "s3://walkout-dev-evidence-123456789012-eu-west-1/stores/store-1/evidence/E0/entry-t1-cam-1.jpg",
    "s3://walkout-dev-evidence-123456789012-eu-west-1/stores/store-1/evidence/E0/entry-t2-cam-1.jpg",
]
# Person 1's look (somebody else in the store at both moments, session s-3).
PERSON_LOOK = (
    "s3://walkout-dev-evidence-123456789012-eu-west-1/stores/store-1/evidence/E9/entry-t7-cam-2.jpg"
)


def sample_task(backend: ReviewBackend = ReviewBackend.GROUNDTRUTH) -> ReviewTask:
    return ReviewTask(
        task_id="rt-0123456789abcdef01234567",
        store_id="store-1",
        retailer_id="retailer-1",
        session_id="s-1",
        backend=backend,
        created_at=T0,
        timeout_s=3600,
        heartbeat_s=1800,
        questions=[
            EventQuestion(
                event_id="E1",
                action=Action.PICK,
                lane_id="L2",
                t_start=T0,
                t_end=T0 + timedelta(seconds=1),
                delta_g=-150.0,
                prompt="At 18:00:01 UTC something was taken from lane L2. Who took it?",
                local_time="18:00:01 UTC",
                evidence=EVIDENCE,
                shoppers=[
                    ShopperCandidate(
                        label="A", colour="orange", colour_hex="#E69F00", session_id="s-1"
                    ),
                    ShopperCandidate(
                        label="B",
                        colour="sky blue",
                        colour_hex="#56B4E9",
                        position="at the shelf, left",
                        looks=LOOKS,
                        session_id="s-2",
                    ),
                ],
                products=[
                    ProductCandidate(
                        sku="chips", name="Chips & Dip", image_url="https://img.example.com/c.png"
                    ),
                    ProductCandidate(sku="tea", name="Tea", image_url=None),
                ],
                max_qty=3,
                present=["1", "2"],
            ),
            EventQuestion(
                event_id="E2",
                action=Action.RETURN,
                lane_id="L6",
                t_start=T0 + timedelta(seconds=30),
                t_end=T0 + timedelta(seconds=31),
                delta_g=60.0,
                prompt="At 18:00:31 UTC something was put back on lane L6. Who put it back?",
                local_time="18:00:31 UTC",
                evidence=[],
                shoppers=[
                    ShopperCandidate(
                        label="A", colour="orange", colour_hex="#E69F00", session_id="s-1"
                    )
                ],
                products=[ProductCandidate(sku="candy", name="Candy <Sour>", image_url=None)],
                max_qty=3,
                present=["1"],
            ),
        ],
        people=[
            PresentPerson(label="1", looks=[PERSON_LOOK], session_id="s-3"),
            PresentPerson(label="2", session_id="s-4"),
        ],
    )


def answers(*items: tuple[str, str, str, int]) -> list[dict[str, Any]]:
    return [{"event_id": e, "shopper": s, "sku": k, "qty": q} for e, s, k, q in items]
