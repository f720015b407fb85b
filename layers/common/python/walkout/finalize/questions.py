"""Turning a session's uncertain events into a review task (pure).

Per event: the candidate shoppers are the sessions the attribution considered (the
decision's, the runners-up, the alternatives') and those its candidates' tracks may really
be through their encounters, always including the session under review;
the candidate products are the SKUs of the decision and its alternatives, the lane's own,
then a few other products whose weight fits the change (an item put back on the wrong
shelf, or taken from where somebody left it), with names and pictures from the catalog.
Candidates get letters in an order derived from a hash of the event and the session, so
the letters carry no hint of what the system believed.

Everyone else in the store at a question's moment is listed too (`with_people`), numbered
by when they came in: when the tracker lost the person who reached, a reviewer who sees
them on the images can still name them.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from walkout.attribution.record import Action, Attribution
from walkout.catalog import Catalog
from walkout.config import ReviewBackend
from walkout.finalize.outcome import exit_doubted
from walkout.review.contract import (
    MAX_EVIDENCE,
    MAX_LOOKS,
    MAX_PEOPLE,
    MAX_PRODUCTS,
    MAX_QTY,
    MAX_SHOPPERS,
    MAX_TASK_BYTES,
    SHOPPER_MARKS,
    EventQuestion,
    PresentPerson,
    ProductCandidate,
    ReviewTask,
    ShopperCandidate,
)

# A session with at least this share of an event is shown before the sessions its
# candidates may really be (`Attribution.linked`); below it, after them.
STRONG_SHARE = 0.1
# Room for "one more than the model thought" when a reviewer counts items.
QTY_HEADROOM = 2
MIN_MAX_QTY = 3


def task_id_for(store_id: str, session_id: str) -> str:
    """One review task per session (the workflow runs once per session)."""
    digest = hashlib.sha256(f"{store_id}#{session_id}".encode()).hexdigest()[:24]
    return f"rt-{digest}"


def _order(event_id: str, key: str) -> str:
    return hashlib.sha256(f"{event_id}#{key}".encode()).hexdigest()


def candidate_sessions(
    attribution: Attribution, session_id: str, ruled_out: Collection[str] = ()
) -> list[str]:
    """The sessions a reviewer chooses from, the reviewed one always among them: those with
    a real share of the event (`STRONG_SHARE`), then those its candidates' tracks may
    really be through their encounters (`Attribution.linked`), then the other shares. Those
    earlier reviewers ruled out ("none of them") are left out, so the question shows others
    in their place."""
    ranked: dict[str, float] = {}
    for share in attribution.sessions:
        ranked[share.session_id] = max(ranked.get(share.session_id, 0.0), share.probability)
    for h in (attribution.decision, *attribution.alternatives):
        if h.session_id is not None:
            ranked[h.session_id] = max(ranked.get(h.session_id, 0.0), h.probability)
    linked = {s: i for i, s in enumerate(attribution.linked)}

    def rank(s: str) -> tuple[int, float, str]:
        p = ranked.get(s, 0.0)
        if s == session_id:
            return (0, 0.0, s)
        if p >= STRONG_SHARE:
            return (1, -p, s)
        if s in linked:
            return (2, float(linked[s]), s)
        return (3, -p, s)

    pool = (set(ranked) | set(linked)) - set(ruled_out)
    pool.add(session_id)
    # Keep the likeliest when there are too many, then drop the likelihood order.
    kept = sorted(pool, key=rank)[:MAX_SHOPPERS]
    return sorted(kept, key=lambda s: _order(attribution.event_id, s))


# When a session came in, and until when it may still be in the store (None: not left).
Stay = tuple[datetime, datetime | None]
# A session whose exit the edge doubted (a track that left most likely followed somebody
# else) may still have its person inside: the tracker lost them, and the one who left was
# another shopper. It is listed among the people present for a while after its exit, the
# longer the surer the edge was that somebody else left: `EXIT_GRACE_SURE` for an exit it
# had no doubt about (counted only with `every_exit`), up to `EXIT_GRACE_LOST` for one it
# was sure was another person's. On the stadium-rush bench run of 27 November, 137
# questions did not list the shopper who reached because their session had closed before
# the event (median 10 s before, 90 % within 28 s); with 30 s after every exit (28
# November, seed 23) 11 shelf changes of 8 sessions still were not, their exits 30-105 s
# before. Every second added lists more people: a median of 50 per question at 30 s,
# 66.5 with this (`walkout bench`, seed 23); up to 120 s, 93, at the 99 cap, and the day
# took 20 % longer.
EXIT_GRACE_SURE = timedelta(seconds=30)
EXIT_GRACE_LOST = timedelta(seconds=60)


def exit_grace(same_person: Mapping[str, float]) -> timedelta:
    """How long after its exit a session may still have its person inside: by the lowest
    probability the edge gave that the person who left on one of its tracks was the
    session's (none given: sure)."""
    worst = min(1.0, max(0.0, min(same_person.values(), default=1.0)))
    return EXIT_GRACE_SURE + (EXIT_GRACE_LOST - EXIT_GRACE_SURE) * (1.0 - worst)


def stay_of(
    entered_at: datetime,
    exit_at: datetime | None,
    same_person: Mapping[str, float],
    *,
    every_exit: bool = False,
) -> Stay:
    """A session's stay as the list of people present counts it: to its exit, or
    `exit_grace` longer when the edge doubted that the person who left was its
    (`every_exit`: whatever the edge said; a tracker that swaps people in a crowd is wrong
    about sure exits too)."""
    if exit_at is not None and (every_exit or exit_doubted(same_person)):
        return entered_at, exit_at + exit_grace(same_person)
    return entered_at, exit_at


def people_span(task: ReviewTask) -> tuple[datetime, datetime]:
    """The span whose sessions `with_people` may list for `task`: its questions' moments,
    from `EXIT_GRACE_LOST` earlier (an exit the edge doubted most, that long before, still
    counts)."""
    since = min(q.t_start for q in task.questions) - EXIT_GRACE_LOST
    return since, max(q.t_end for q in task.questions)


def with_people(
    task: ReviewTask,
    stays: Mapping[str, Stay],
    ruled_out: Mapping[str, Collection[str]] | None = None,
) -> ReviewTask:
    """The task with everyone in the store during its questions' moments (`stays`: by
    session). A question lists those whose stay covers its event (in by its end, not gone
    before its start), other than its candidates and those reviewers ruled out for it.
    More than `MAX_PEOPLE` in all: those present at the most questions are kept. People
    are numbered by when they came in, which says nothing of what the system believed."""
    present: dict[str, list[str]] = {}
    for q in task.questions:
        left_out = {s.session_id for s in q.shoppers} | set((ruled_out or {}).get(q.event_id, ()))
        present[q.event_id] = [
            s
            for s, (entered, left) in stays.items()
            if s not in left_out and entered <= q.t_end and (left is None or left >= q.t_start)
        ]
    times = Counter(s for sessions in present.values() for s in sessions)
    kept = sorted(times, key=lambda s: (-times[s], stays[s][0], s))[:MAX_PEOPLE]
    numbered = sorted(kept, key=lambda s: (stays[s][0], s))
    labels = {s: str(i) for i, s in enumerate(numbered, start=1)}
    questions = [
        q.model_copy(
            update={
                "present": sorted((labels[s] for s in present[q.event_id] if s in labels), key=int)
            }
        )
        for q in task.questions
    ]
    people = [PresentPerson(label=labels[s], session_id=s) for s in numbered]
    return task.model_copy(update={"questions": questions, "people": people})


def with_looks(task: ReviewTask, looks: Mapping[str, Sequence[str]]) -> ReviewTask:
    """The task with each shopper's and person's looks at the gate (`s3://` URIs by
    session, at most `MAX_LOOKS`): what reviewers recognise them by on the event's images."""
    return task.with_looks(lambda s: list(looks.get(s.session_id, ()))[:MAX_LOOKS])


def within_size(task: ReviewTask, limit: int = MAX_TASK_BYTES) -> ReviewTask:
    """The task, or, when its JSON is longer than `limit`, the same with each shopper's
    and person's first look only, then without the people present, then without looks
    (the looks and the people are what grows with a crowd). A task too long even so is left
    as it is: the review adapter refuses it, naming its size."""
    for shrink in (_first_look_only, ReviewTask.without_people, _no_looks):
        if _size(task) <= limit:
            break
        task = shrink(task)
    return task


def _size(task: ReviewTask) -> int:
    return len(task.model_dump_json(by_alias=True).encode())


def _first_look_only(task: ReviewTask) -> ReviewTask:
    return task.with_looks(lambda s: s.looks[:1])


def _no_looks(task: ReviewTask) -> ReviewTask:
    return task.with_looks(lambda s: [])


def shown_sessions(task: ReviewTask) -> set[str]:
    """Every session a reviewer sees in the task: candidates and people present."""
    return {s.session_id for q in task.questions for s in q.shoppers} | {
        p.session_id for p in task.people
    }


# A product fits a shelf change of `grams` when some quantity of it weighs that within
# its tolerance (per unit, adding up as independent errors) and this much more: the load
# cells' resolution and settling.
WEIGHT_FIT_SLACK_G = 3.0
# At most this many such products per question: every product is written into the task
# with its name and picture, and a task has a size limit (`within_size`).
MAX_WEIGHT_FITS = 3


def weight_misfit(grams: float, unit_weight_g: float, tolerance_g: float, max_qty: int) -> float:
    """How far `grams` is from the nearest 1..`max_qty` units of a product, in units of
    what that quantity's tolerance allows (at most 1: it fits)."""
    return min(
        abs(grams - q * unit_weight_g) / (math.sqrt(q) * tolerance_g + WEIGHT_FIT_SLACK_G)
        for q in range(1, max_qty + 1)
    )


def candidate_products(
    attribution: Attribution, catalog: Catalog, lane_sku: str | None = None, max_qty: int = 1
) -> list[ProductCandidate]:
    """The SKUs the attribution weighed, the lane's own SKU (always a fair guess), then up
    to `MAX_WEIGHT_FITS` of the catalog's other products whose weight fits the change
    (`max_qty` units at most), closest first: a shopper puts an item back on the wrong
    shelf and the next one takes it from there, and neither the lane nor the attribution
    may know it (the reviewer sees it on the images)."""
    products = catalog.by_sku()
    ranked: dict[str, float] = {}
    for h in (attribution.decision, *attribution.alternatives):
        if h.sku is not None and h.sku in products:
            ranked[h.sku] = max(ranked.get(h.sku, 0.0), h.probability)
    if lane_sku is not None and lane_sku in products:
        ranked.setdefault(lane_sku, 0.0)
    kept = sorted(ranked, key=lambda s: (-ranked[s], s))[:MAX_PRODUCTS]
    grams = abs(attribution.delta_g)
    misfit = {
        sku: weight_misfit(grams, p.unit_weight_g, p.weight_tolerance_g, max_qty)
        for sku, p in products.items()
        if sku not in ranked
    }
    fitting = sorted((s for s, m in misfit.items() if m <= 1.0), key=lambda s: (misfit[s], s))
    kept += fitting[: min(MAX_WEIGHT_FITS, MAX_PRODUCTS - len(kept))]
    if not kept:
        raise ValueError(f"event {attribution.event_id}: no candidate product in the catalog")
    return [
        ProductCandidate(
            sku=sku,
            name=products[sku].name,
            image_url=str(products[sku].image_url) if products[sku].image_url else None,
        )
        for sku in sorted(kept, key=lambda s: (products[s].name.lower(), s))
    ]


def _local_time(when: datetime, timezone: str) -> str:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = when.astimezone(zone)
    return f"{local:%H:%M:%S} {local.tzname() or timezone}"


def prompt(attribution: Attribution, local_time: str) -> str:
    grams = abs(attribution.delta_g)
    if attribution.action is Action.PICK:
        return (
            f"At {local_time} something was taken from lane {attribution.lane_id}"
            f" (the shelf got {grams:.0f} g lighter). Who took it, what was it, and how many?"
        )
    return (
        f"At {local_time} something was put back on lane {attribution.lane_id}"
        f" (the shelf got {grams:.0f} g heavier). Who put it back, what was it, and how many?"
    )


def question_for(
    attribution: Attribution,
    *,
    session_id: str,
    catalog: Catalog,
    evidence: Sequence[str],
    timezone: str,
    lane_sku: str | None = None,
    ruled_out: Collection[str] = (),
) -> EventQuestion:
    sessions = candidate_sessions(attribution, session_id, ruled_out)
    local = _local_time(attribution.t_end, timezone)
    most = max((h.qty for h in (attribution.decision, *attribution.alternatives)), default=1)
    max_qty = min(MAX_QTY, max(MIN_MAX_QTY, most + QTY_HEADROOM))
    return EventQuestion(
        event_id=attribution.event_id,
        action=attribution.action,
        lane_id=attribution.lane_id,
        t_start=attribution.t_start,
        t_end=attribution.t_end,
        delta_g=attribution.delta_g,
        prompt=prompt(attribution, local),
        local_time=local,
        evidence=list(evidence)[:MAX_EVIDENCE],
        shoppers=[
            ShopperCandidate(label=label, colour=colour, colour_hex=hex_, session_id=s)
            for s, (label, colour, hex_) in zip(sessions, SHOPPER_MARKS, strict=False)
        ],
        products=candidate_products(attribution, catalog, lane_sku, max_qty),
        max_qty=max_qty,
    )


def build_review_task(
    *,
    store_id: str,
    retailer_id: str,
    session_id: str,
    attributions: Sequence[Attribution],
    catalog: Catalog,
    evidence: Mapping[str, Sequence[str]],
    timezone: str,
    lane_skus: Mapping[str, str],
    backend: ReviewBackend,
    created_at: datetime,
    timeout_s: int,
    heartbeat_s: int,
    ruled_out: Mapping[str, Collection[str]] | None = None,
) -> ReviewTask:
    """The review task for the uncertain events `attributions`, asked in time order (the
    order a reviewer follows the visit in); `ruled_out`: per event, the sessions earlier
    reviewers said did not move the item."""
    return ReviewTask(
        task_id=task_id_for(store_id, session_id),
        store_id=store_id,
        retailer_id=retailer_id,
        session_id=session_id,
        backend=backend,
        created_at=created_at,
        timeout_s=timeout_s,
        heartbeat_s=heartbeat_s,
        questions=[
            question_for(
                a,
                session_id=session_id,
                catalog=catalog,
                evidence=evidence.get(a.event_id, ()),
                timezone=timezone,
                lane_sku=lane_skus.get(a.lane_id),
                ruled_out=(ruled_out or {}).get(a.event_id, ()),
            )
            for a in sorted(attributions, key=lambda a: (a.t_end, a.event_id))
        ],
    )
