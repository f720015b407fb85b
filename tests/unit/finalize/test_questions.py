"""Review questions built from attribution records: who (letters and colours, never names),
what (names and pictures from the catalog), how many."""

from __future__ import annotations

from datetime import timedelta

from finalize_builders import T0, attribution, catalog

from walkout.attribution.record import Action, Attribution
from walkout.config import ReviewBackend
from walkout.finalize.questions import (
    EXIT_GRACE_LOST,
    EXIT_GRACE_SURE,
    build_review_task,
    candidate_products,
    candidate_sessions,
    exit_grace,
    people_span,
    stay_of,
    task_id_for,
    with_looks,
    with_people,
    within_size,
)
from walkout.review.contract import MAX_PEOPLE, MAX_TASK_BYTES, SHOPPER_MARKS, ReviewTask

CANDY_WHO = attribution(
    2, who=[("s-1", 0.55), ("s-2", 0.42)], what=[("candy", 1, 0.98)], p=0.55, lane="L6"
)
CHIPS_OR_TEA = attribution(
    1, who=[("s-1", 0.97)], what=[("chips", 1, 0.6), ("tea", 1, 0.37)], p=0.6, lane="L2"
)


def task(*attributions: Attribution, evidence: dict[str, list[str]] | None = None) -> ReviewTask:
    return build_review_task(
        store_id="store-1",
        retailer_id="retailer-1",
        session_id="s-1",
        attributions=attributions,
        catalog=catalog(),
        evidence=evidence or {},
        timezone="Europe/Berlin",
        lane_skus={"L2": "chips", "L6": "candy"},
        backend=ReviewBackend.CONSOLE,
        created_at=T0,
        timeout_s=3600,
        heartbeat_s=600,
    )


def test_a_question_per_uncertain_event_in_time_order() -> None:
    built = task(CANDY_WHO, CHIPS_OR_TEA)

    assert [q.event_id for q in built.questions] == ["E001", "E002"]
    assert built.task_id == task_id_for("store-1", "s-1")


def test_candidate_shoppers_get_letters_and_colours_and_include_the_reviewed_session() -> None:
    question = task(CANDY_WHO).questions[0]

    assert {s.session_id for s in question.shoppers} == {"s-1", "s-2"}
    assert [(s.label, s.colour, s.colour_hex) for s in question.shoppers] == [
        m for m in SHOPPER_MARKS[:2]
    ]


def test_letters_carry_no_hint_of_the_systems_belief() -> None:
    # Given the same event, once believed to be s-1's and once s-2's
    mine = attribution(2, who=[("s-1", 0.9), ("s-2", 0.1)], what=[("candy", 1, 0.9)], p=0.9)
    theirs = attribution(2, who=[("s-2", 0.9), ("s-1", 0.1)], what=[("candy", 1, 0.9)], p=0.9)

    # Then both get the same letters
    assert candidate_sessions(mine, "s-1") == candidate_sessions(theirs, "s-1")


def test_sessions_earlier_reviewers_ruled_out_make_room_for_others() -> None:
    # Given an event ten sessions could be behind: a question shows eight of them
    crowd = [(f"s-{n}", 0.3 - 0.02 * n) for n in range(1, 11)]
    many = attribution(2, who=crowd, what=[("candy", 1, 0.98)], p=0.28, lane="L6")
    first = candidate_sessions(many, "s-1")
    assert set(first) == {f"s-{n}" for n in range(1, 9)}

    # When those eight were answered "none of them", s-10's question shows the two left
    assert set(candidate_sessions(many, "s-10", ruled_out=first)) == {"s-9", "s-10"}
    # and a reviewed session is always shown, ruled out or not
    assert "s-1" in candidate_sessions(many, "s-1", ruled_out=first)
    # Through the task: per event
    built = build_review_task(
        store_id="store-1",
        retailer_id="retailer-1",
        session_id="s-10",
        attributions=[many],
        catalog=catalog(),
        evidence={},
        timezone="Europe/Berlin",
        lane_skus={},
        backend=ReviewBackend.CONSOLE,
        created_at=T0,
        timeout_s=3600,
        heartbeat_s=600,
        ruled_out={many.event_id: first},
    )
    assert {s.session_id for s in built.questions[0].shoppers} == {"s-9", "s-10"}


def test_sessions_the_candidates_may_really_be_come_after_the_likely_ones() -> None:
    # Given an event with two likely sessions, six thin ones (a share of 0.02 each), and
    # four sessions the candidates' tracks are linked to through encounters
    who = [("s-1", 0.6), ("s-2", 0.2)] + [(f"thin-{n}", 0.02) for n in range(6)]
    event = attribution(2, who=who, what=[("candy", 1, 0.98)], p=0.6, lane="L6")
    event = event.model_copy(update={"linked": ["s-1", "far-1", "far-2", "far-3", "far-4"]})

    # Then the question shows the likely ones, the linked ones, and thin ones in the rest
    shown = candidate_sessions(event, "s-1")
    assert set(shown) == {"s-1", "s-2", "far-1", "far-2", "far-3", "far-4", "thin-0", "thin-1"}
    # and a linked session earlier reviewers ruled out makes room for the next thin one
    again = candidate_sessions(event, "s-2", ruled_out=["far-1"])
    assert "far-1" not in again and "thin-2" in again


def test_candidate_products_carry_names_and_pictures_and_the_lanes_own_sku() -> None:
    question = task(CHIPS_OR_TEA).questions[0]

    assert [(p.sku, p.name, p.image_url) for p in question.products] == [
        ("chips", "Chips", "https://img.example.com/chips.png"),
        ("tea", "Tea", "https://img.example.com/tea.png"),
    ]
    knock = attribution(3, who=[("s-1", 0.5)], what=[(None, 0, 0.5)], p=0.5, lane="L2")
    assert [p.sku for p in task(knock).questions[0].products] == ["chips"]


def test_products_whose_weight_fits_the_change_are_offered_too() -> None:
    # A shopper put 400 g back on the candy lane: a soap from another shelf, which the
    # attribution did not weigh (nobody listed held one)
    misplaced = attribution(
        5, who=[("s-1", 0.5)], what=[(None, 0, 0.5)], p=0.5, action=Action.RETURN, lane="L6"
    ).model_copy(update={"delta_g": 400.0})
    assert [p.sku for p in task(misplaced).questions[0].products] == ["candy", "soap"]
    # two of them, or three colas (990 g, within three units' tolerance)
    for grams, sku in ((800.0, "soap"), (1000.0, "cola")):
        event = misplaced.model_copy(update={"delta_g": grams})
        assert [p.sku for p in task(event).questions[0].products] == ["candy", sku]
    # but never more units than the question lets a reviewer give (here 3)
    four = misplaced.model_copy(update={"delta_g": 1600.0})
    assert [p.sku for p in task(four).questions[0].products] == ["candy"]

    # Many products of that weight: the closest few, after those the attribution weighed
    lookalikes = [
        catalog().by_sku()["soap"].model_copy(update={"sku": f"soap-{n}", "unit_weight_g": w})
        for n, w in enumerate((396.0, 401.0, 403.0, 398.5))
    ]
    crowded = catalog().model_copy(update={"products": [*catalog().products, *lookalikes]})
    products = candidate_products(misplaced, crowded, "candy", max_qty=3)
    assert [p.sku for p in products] == ["candy", "soap", "soap-1", "soap-3"]


def test_the_question_says_what_happened_in_the_stores_local_time() -> None:
    question = task(CHIPS_OR_TEA).questions[0]
    returned = attribution(
        4, who=[("s-1", 0.6)], what=[("tea", 1, 0.6)], p=0.6, action=Action.RETURN
    )

    assert question.local_time == "19:00:20 CET"
    assert "taken from lane L2" in question.prompt and "how many" in question.prompt
    assert "put back" in task(returned).questions[0].prompt
    assert question.max_qty == 3


def test_evidence_images_are_attached_to_their_event() -> None:
    uris = ["s3://bucket/stores/store-1/evidence/E001/reach-cam-1.jpg"]

    built = task(CHIPS_OR_TEA, CANDY_WHO, evidence={"E001": uris})

    assert built.questions[0].evidence == uris
    assert built.questions[1].evidence == []


def test_the_reviewer_view_hides_sessions_and_probabilities() -> None:
    view = task(CANDY_WHO).reviewer_view()
    text = view.model_dump_json()

    assert "s-1" not in text and "s-2" not in text
    assert "0.55" not in text


def crowded_task() -> ReviewTask:
    """Forty questions, each with eight candidate shoppers (s-1..s-8)."""
    crowd = [(f"s-{n}", 0.3 - 0.02 * n) for n in range(1, 9)]
    return task(
        *(
            attribution(n, who=crowd, what=[("candy", 1, 0.98)], p=0.28, lane="L6")
            for n in range(1, 41)
        )
    )


def test_a_task_too_long_for_the_review_adapters_keeps_one_look_per_shopper() -> None:
    # Given a task of many questions whose every shopper has four looks at the gate
    look = "s3://walkout-dev-evidence-1/stores/store-1/evidence/E0/entry-t{n}-cam-1.jpg"
    built = crowded_task().with_looks(lambda s: [look.format(n=n) for n in range(4)])
    assert len(built.model_dump_json(by_alias=True)) > MAX_TASK_BYTES

    # When fitted, it is short enough: each shopper keeps its first look
    fitted = within_size(built)
    assert len(fitted.model_dump_json(by_alias=True)) <= MAX_TASK_BYTES
    assert {tuple(s.looks) for q in fitted.questions for s in q.shoppers} == {(look.format(n=0),)}
    # and a task that fits is left as it is
    assert within_size(task(CANDY_WHO)) == task(CANDY_WHO)


def at(seconds: float) -> object:
    return T0 + timedelta(seconds=seconds)


def test_everyone_in_the_store_at_a_moment_is_listed_by_entry_order_except_the_candidates() -> None:
    # CHIPS_OR_TEA happens at T0+19..20 s (candidate s-1), CANDY_WHO at T0+29..30 s (s-1, s-2)
    built = task(CHIPS_OR_TEA, CANDY_WHO)
    stays = {
        "s-1": (at(0), None),
        "s-2": (at(1), None),
        "late": (at(25), None),  # came in between the two moments
        "early": (at(-60), at(22)),  # left between them
        "gone": (at(-60), at(5)),  # left before both
        "after": (at(31), None),  # came in after both
        "ruled": (at(2), None),  # an earlier reviewer said it was none of them at CANDY
        "both": (at(3), at(40)),
    }

    with_everyone = with_people(built, stays, {"E002": ["ruled"]})

    numbers = {p.session_id: p.label for p in with_everyone.people}
    assert numbers == {"early": "1", "s-2": "2", "ruled": "3", "both": "4", "late": "5"}
    chips, candy = with_everyone.questions
    assert chips.present == ["1", "2", "3", "4"]
    assert candy.present == ["4", "5"]
    assert with_everyone.session_of("E002", "5") == "late"
    assert with_everyone.session_of("E002", "1") is None  # early had left by then
    ReviewTask.model_validate(with_everyone.model_dump(by_alias=True))


def test_a_crowd_larger_than_the_list_keeps_those_present_at_the_most_moments() -> None:
    built = task(CHIPS_OR_TEA, CANDY_WHO)
    crowd = {f"c-{n:03d}": (at(n * 0.01), at(25)) for n in range(MAX_PEOPLE)}  # at CHIPS only
    crowd |= {"stayer": (at(10), None), "s-1": (at(0), None)}

    listed = with_people(built, crowd)

    assert len(listed.people) == MAX_PEOPLE
    assert "stayer" in {p.session_id for p in listed.people}
    assert "c-098" not in {p.session_id for p in listed.people}  # the last in, at one moment only


def test_a_task_too_long_for_the_adapters_drops_the_people_before_the_candidates_looks() -> None:
    look = "s3://walkout-dev-evidence-1/stores/store-1/evidence/E0/entry-{s}-cam-1.jpg"
    stays = {f"p-{n}": (at(0), None) for n in range(MAX_PEOPLE)}
    built = with_people(crowded_task(), stays)
    looks = {s: [look.format(s=s)] for s in [*stays, *(f"s-{n}" for n in range(1, 9))]}
    full = with_looks(built, looks)
    assert len(full.model_dump_json(by_alias=True)) > MAX_TASK_BYTES

    fitted = within_size(full)

    assert len(fitted.model_dump_json(by_alias=True)) <= MAX_TASK_BYTES
    assert fitted.people == [] and all(q.present == [] for q in fitted.questions)
    assert all(s.looks for q in fitted.questions for s in q.shoppers)


def test_a_session_whose_exit_the_edge_doubted_is_listed_for_a_while_after_it() -> None:
    entered, left = T0, T0 + timedelta(seconds=20)
    # The person who left on t-2 was most likely somebody else: theirs may still be inside,
    # the longer the surer the edge was of it (by the session's worst track)
    doubted = stay_of(entered, left, {"t-1": 0.9, "t-2": 0.2})
    assert doubted == (entered, left + exit_grace({"t-2": 0.2}))
    assert exit_grace({"t-1": 0.9, "t-2": 0.2}) == exit_grace({"t-2": 0.2})
    assert exit_grace({"t-1": 0.0}) == EXIT_GRACE_LOST
    assert exit_grace({"t-1": 1.0}) == exit_grace({}) == EXIT_GRACE_SURE
    assert EXIT_GRACE_SURE < exit_grace({"t-1": 0.6}) < exit_grace({"t-1": 0.2}) < EXIT_GRACE_LOST
    assert stay_of(entered, left, {"t-1": 0.9}) == (entered, left)
    assert stay_of(entered, left, {}) == (entered, left)
    assert stay_of(entered, None, {"t-1": 0.2}) == (entered, None)
    # unless every exit counts as doubted (`hold_every_exit`): a sure one the shortest while
    assert stay_of(entered, left, {"t-1": 0.9}, every_exit=True) == (
        entered,
        left + exit_grace({"t-1": 0.9}),
    )
    assert stay_of(entered, left, {}, every_exit=True) == (entered, left + EXIT_GRACE_SURE)
    assert stay_of(entered, None, {}, every_exit=True) == (entered, None)

    # Assess reads the sessions of the task's moments, from the longest grace before them
    assert people_span(task(CANDY_WHO)) == (at(29) - EXIT_GRACE_LOST, at(30))
    # CANDY_WHO, at T0+29..30 s: the doubted session is listed, the sure one is not
    listed = with_people(
        task(CANDY_WHO), {"doubted": doubted, "sure": stay_of(entered, left, {"t-1": 0.9})}
    )
    assert [p.session_id for p in listed.people] == ["doubted"]
