"""The review port's one task contract (DESIGN.md section 5), shared by both adapters.

A `ReviewTask` lists only the uncertain events of one session. Per event it shows the
evidence images, the candidate shoppers (a letter and a colour, never a name) and the
candidate products, and asks one question: who moved what, and how many. The answer, per
event, names a shopper by letter (or none of them), a SKU (or nothing moved) and a
quantity.

The candidates are the people the system could link to the event. When the tracker lost
the person in a crowd, the one who reached is not among them, yet a reviewer sees them on
the images. So the task also lists everyone who was in the store during its moments
(`ReviewTask.people`: a number and their looks at the gate, never a name), and each
question names those present at its moment (`EventQuestion.present`); an answer may name
one of them by number instead of a letter.

What reviewers see is `ReviewTask.reviewer_view()`: the same questions without session ids
or model probabilities. The letters map back to sessions only inside the workflow.
Candidates are listed in an order derived from a hash, not by likelihood, so "A" is not
the system's guess and reviewers are not anchored on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, Literal, Self

from pydantic import Field, StringConstraints, field_validator, model_validator

from walkout._base import Identifier, Model
from walkout.attribution.record import Action, Probability
from walkout.config import ReviewBackend
from walkout.events import UtcTimestamp

TASK_SCHEMA: Final = "walkout.review-task/1"
# The error a review ends with when the reviewers could not settle it (Step Functions
# catches it like a timeout: the customer-favourable fallback).
REVIEW_UNRESOLVED: Final = "Walkout.ReviewUnresolved"

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
SHOPPER_MARKS: Final = (
    ("A", "orange", "#E69F00"),
    ("B", "sky blue", "#56B4E9"),
    ("C", "green", "#009E73"),
    ("D", "yellow", "#F0E442"),
    ("E", "blue", "#0072B2"),
    ("F", "vermilion", "#D55E00"),
    ("G", "pink", "#CC79A7"),
    ("H", "black", "#000000"),
)
MAX_SHOPPERS: Final = len(SHOPPER_MARKS)
MAX_PRODUCTS: Final = 8
MAX_QTY: Final = 20
MAX_EVIDENCE: Final = 6
MAX_LOOKS: Final = 4  # a shopper's looks at the gate shown (one per member of a group)
# Everyone in the store during a task's moments, at most (numbered 1..MAX_PEOPLE).
MAX_PEOPLE: Final = 99
# A task as JSON text, at most: it travels in the workflow's state (256 KB), in the console's
# DynamoDB item (400 KB) and, escaped into one string with its task token, as a Ground
# Truth input-manifest line (100 KB); this leaves room for the escapes (they added 13 % to
# the JSON of the sample task in tests/unit/review: 1,721 -> 1,939 bytes) and the token.
MAX_TASK_BYTES: Final = 80_000

ShopperLabel = Annotated[str, StringConstraints(pattern=r"^[A-H]$")]
PersonLabel = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]?$")]
# Whom an answer names: a question's candidate (letter) or a person present (number).
AnswerLabel = Annotated[str, StringConstraints(pattern=r"^(?:[A-H]|[1-9][0-9]?)$")]
S3Uri = Annotated[str, StringConstraints(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+")]
ColourHex = Annotated[str, StringConstraints(pattern=r"^#[0-9A-F]{6}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ReviewAnswerError(ValueError):
    """An answer that does not fit its task; the message names the event and the field."""


class ShopperCandidate(Model):
    """A person who may have moved the item, as reviewers know them: a letter, a colour."""

    label: ShopperLabel
    colour: Text
    colour_hex: ColourHex
    # Where the person was, in words ("at the shelf, left"), when the edge reports it.
    position: Annotated[str, StringConstraints(max_length=200)] = ""
    # The session's people as the gate cameras saw them: how a reviewer tells who is who
    # on the event's images, whatever the tracker believed since.
    looks: Annotated[list[S3Uri], Field(max_length=MAX_LOOKS)] = []
    session_id: Identifier


class PresentPerson(Model):
    """Somebody in the store during the task's moments, as reviewers know them: a number
    and their looks at the gate (the session's people)."""

    label: PersonLabel
    looks: Annotated[list[S3Uri], Field(max_length=MAX_LOOKS)] = []
    session_id: Identifier


class ProductCandidate(Model):
    sku: Identifier
    name: Text
    image_url: str | None = None


class EventQuestion(Model):
    event_id: Identifier
    action: Action
    lane_id: Identifier
    t_start: UtcTimestamp
    t_end: UtcTimestamp
    delta_g: float
    prompt: Text
    # Shown as local time: what a reviewer compares with the images' timestamps.
    local_time: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    evidence: Annotated[list[S3Uri], Field(max_length=MAX_EVIDENCE)] = []
    shoppers: Annotated[list[ShopperCandidate], Field(min_length=1, max_length=MAX_SHOPPERS)]
    products: Annotated[list[ProductCandidate], Field(min_length=1, max_length=MAX_PRODUCTS)]
    max_qty: Annotated[int, Field(ge=1, le=MAX_QTY)]
    # The task's `people` in the store at this moment, other than the candidates.
    present: Annotated[list[PersonLabel], Field(max_length=MAX_PEOPLE)] = []

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        labels = [s.label for s in self.shoppers]
        sessions = [s.session_id for s in self.shoppers]
        skus = [p.sku for p in self.products]
        for what, values in (
            ("shopper labels", labels),
            ("sessions", sessions),
            ("skus", skus),
            ("present people", self.present),
        ):
            if len(values) != len(set(values)):
                raise ValueError(f"event {self.event_id}: {what} repeat")
        return self


class ReviewTask(Model):
    """One session's uncertain events, as sent to a review adapter."""

    schema_: Annotated[Literal["walkout.review-task/1"], Field(alias="schema")] = TASK_SCHEMA
    task_id: Identifier
    store_id: Identifier
    retailer_id: Identifier
    session_id: Identifier
    backend: ReviewBackend
    created_at: UtcTimestamp
    # Step Functions reads these two (TimeoutSecondsPath / HeartbeatSecondsPath).
    timeout_s: Annotated[int, Field(ge=1, le=28_800)]
    heartbeat_s: Annotated[int, Field(ge=1, le=28_800)]
    questions: Annotated[list[EventQuestion], Field(min_length=1)]
    # Everyone in the store during the questions' moments (each question lists who of them
    # was there then): whom a reviewer may name when no candidate moved the item.
    people: Annotated[list[PresentPerson], Field(max_length=MAX_PEOPLE)] = []

    @model_validator(mode="after")
    def _one_question_per_event(self) -> Self:
        events = [q.event_id for q in self.questions]
        if len(events) != len(set(events)):
            raise ValueError(f"task {self.task_id}: an event is asked about twice")
        labels = [p.label for p in self.people]
        sessions = [p.session_id for p in self.people]
        for what, values in (("people's numbers", labels), ("people's sessions", sessions)):
            if len(values) != len(set(values)):
                raise ValueError(f"task {self.task_id}: {what} repeat")
        by_label = dict(zip(labels, sessions, strict=True))
        for q in self.questions:
            unknown = [p for p in q.present if p not in by_label]
            if unknown:
                raise ValueError(
                    f"event {q.event_id}: present {', '.join(unknown)} not among the task's people"
                )
            if {by_label[p] for p in q.present} & {s.session_id for s in q.shoppers}:
                raise ValueError(f"event {q.event_id}: a candidate is also listed as present")
        return self

    def nameable(self, event_id: str) -> dict[str, str]:
        """Label -> session for everyone an answer about `event_id` may name: its
        candidates' letters first, then the numbers of the people present at that moment."""
        question = self.question(event_id)
        if question is None:
            return {}
        present = set(question.present)
        return {s.label: s.session_id for s in question.shoppers} | {
            p.label: p.session_id for p in self.people if p.label in present
        }

    def session_of(self, event_id: str, label: str | None) -> str | None:
        """The session behind `label` in the question about `event_id` (`nameable`)."""
        return None if label is None else self.nameable(event_id).get(label)

    def shown(self, event_id: str) -> list[str]:
        """The sessions whom "none of them" rules out for `event_id`: its candidates. Not
        the people present: a reviewer who cannot tell who moved the item may answer "none
        of them" without having looked through everybody in the store."""
        question = self.question(event_id)
        return [s.session_id for s in question.shoppers] if question is not None else []

    @property
    def deadline(self) -> datetime:
        return self.created_at + timedelta(seconds=self.timeout_s)

    def with_looks(
        self, looks: Callable[[ShopperCandidate | PresentPerson], Sequence[str]]
    ) -> ReviewTask:
        """The task with each shopper's and person's looks replaced by `looks(them)`."""
        questions = [
            q.model_copy(
                update={
                    "shoppers": [s.model_copy(update={"looks": list(looks(s))}) for s in q.shoppers]
                }
            )
            for q in self.questions
        ]
        people = [p.model_copy(update={"looks": list(looks(p))}) for p in self.people]
        return self.model_copy(update={"questions": questions, "people": people})

    def without_people(self) -> ReviewTask:
        """The task without its list of people present (the candidates stay)."""
        questions = [q.model_copy(update={"present": []}) for q in self.questions]
        return self.model_copy(update={"questions": questions, "people": []})

    def question(self, event_id: str) -> EventQuestion | None:
        return next((q for q in self.questions if q.event_id == event_id), None)

    def reviewer_view(self) -> ReviewerTask:
        """What a reviewer may see: no session ids, no probabilities; the people present
        once per task (number and looks), each question naming those present then."""
        return ReviewerTask(
            task_id=self.task_id,
            store_id=self.store_id,
            deadline=self.deadline,
            questions=[
                ReviewerQuestion(
                    number=i,
                    event_id=q.event_id,
                    action=q.action,
                    lane_id=q.lane_id,
                    prompt=q.prompt,
                    local_time=q.local_time,
                    evidence=list(q.evidence),
                    shoppers=[
                        ReviewerShopper(
                            label=s.label,
                            colour=s.colour,
                            colour_hex=s.colour_hex,
                            position=s.position,
                            looks=list(s.looks),
                        )
                        for s in q.shoppers
                    ],
                    products=list(q.products),
                    max_qty=q.max_qty,
                    present=list(q.present),
                )
                for i, q in enumerate(self.questions, start=1)
            ],
            people=[ReviewerPerson(label=p.label, looks=list(p.looks)) for p in self.people],
        )


class ReviewerShopper(Model):
    label: ShopperLabel
    colour: Text
    colour_hex: ColourHex
    position: str = ""
    looks: list[S3Uri] = []


class ReviewerPerson(Model):
    label: PersonLabel
    looks: list[S3Uri] = []


class ReviewerQuestion(Model):
    number: Annotated[int, Field(ge=1)]
    event_id: Identifier
    action: Action
    lane_id: Identifier
    prompt: Text
    local_time: str
    evidence: list[S3Uri]
    shoppers: list[ReviewerShopper]
    products: list[ProductCandidate]
    max_qty: int
    present: list[PersonLabel] = []


class ReviewerTask(Model):
    """The worker-facing task: Ground Truth's `taskInput`, the console's review page."""

    task_id: Identifier
    store_id: Identifier
    deadline: UtcTimestamp
    questions: list[ReviewerQuestion]
    people: list[ReviewerPerson] = []


class OtherTaker(Model):
    """Somebody else who moved units of the same product in the same shelf change (two
    shoppers taking from one lane at once, which the shelf weighs as one change)."""

    shopper: AnswerLabel
    qty: Annotated[int, Field(ge=1, le=MAX_QTY)]


class EventAnswer(Model):
    """The answer about one event.

    `shopper`: a candidate's letter or the number of a person present; None: none of them
    (nobody who can be charged). `sku` None or
    `qty` 0: nothing was moved (a knock, a shift); the other fields are then cleared, so
    every way of saying "nothing" is one answer when votes are counted.
    `also`: others who moved `sku` in the same change, each with their own quantity (the
    shelf weighed `qty` plus theirs); only with a `shopper`, each named once.
    `resolved` False: the reviewers did not agree; the event is treated as unanswered.
    """

    event_id: Identifier
    shopper: AnswerLabel | None
    sku: Identifier | None
    qty: Annotated[int, Field(ge=0, le=MAX_QTY)]
    also: Annotated[
        list[OtherTaker], Field(max_length=MAX_SHOPPERS - 1, exclude_if=lambda also: not also)
    ] = []
    resolved: bool = True
    agreement: Probability = 1.0

    @model_validator(mode="before")
    @classmethod
    def _nothing_is_one_answer(cls, data: Any) -> Any:
        if isinstance(data, dict) and (data.get("sku") is None or data.get("qty") == 0):
            return {**data, "shopper": None, "sku": None, "qty": 0, "also": []}
        return data

    @model_validator(mode="after")
    def _takers_distinct(self) -> Self:
        if self.also and self.shopper is None:
            raise ValueError("also: others who moved the item need a shopper named first")
        named = [self.shopper, *(o.shopper for o in self.also)]
        if len(set(named)) != len(named):
            raise ValueError("also: a shopper is named more than once")
        if self.total_qty > MAX_QTY:
            raise ValueError(f"also: {self.total_qty} units in all exceed {MAX_QTY}")
        return self

    @field_validator("also")
    @classmethod
    def _one_order(cls, also: list[OtherTaker]) -> list[OtherTaker]:
        return sorted(also, key=lambda o: label_order(o.shopper))

    @property
    def total_qty(self) -> int:
        return self.qty + sum(o.qty for o in self.also)

    @property
    def choice(self) -> tuple[str | None, str | None, int, tuple[tuple[str, int], ...]]:
        """The answer as votes count it: with others named, which of the takers came first
        is not part of it (the first in `label_order` is)."""
        takers = [(self.shopper, self.qty), *((o.shopper, o.qty) for o in self.also)]
        if self.also:
            takers.sort(key=lambda t: label_order(str(t[0])))
        (first, qty), *others = takers
        return (first, self.sku, qty, tuple((str(s), n) for s, n in others))


def label_order(label: str) -> tuple[bool, str]:
    """Letters first, then the numbers of people present in their order."""
    return (label.isdigit(), label.zfill(2))


class ReviewAnswer(Model):
    """A finished review: what `SendTaskSuccess` hands back to the workflow."""

    kind: Literal["answered"] = "answered"
    task_id: Identifier
    answers: list[EventAnswer]
    reviewers: Annotated[int, Field(ge=1)]
    agreement: Probability
    source: ReviewBackend
    answered_at: UtcTimestamp

    def answer(self, event_id: str) -> EventAnswer | None:
        return next((a for a in self.answers if a.event_id == event_id), None)


class ReviewTimedOut(Model):
    """No answer in time (or none the reviewers could agree on)."""

    kind: Literal["timeout"] = "timeout"
    error: Annotated[str, StringConstraints(min_length=1, max_length=200)]


ReviewOutcome = Annotated[ReviewAnswer | ReviewTimedOut, Field(discriminator="kind")]


def check_answers(task: ReviewTask, answers: Sequence[EventAnswer]) -> None:
    """Every question answered once, with candidates of that question (or people present
    at its moment); raises
    `ReviewAnswerError` naming the event and the field otherwise."""
    seen: set[str] = set()
    for answer in answers:
        question = task.question(answer.event_id)
        if question is None:
            raise ReviewAnswerError(
                f"answers: event {answer.event_id} is not in task {task.task_id}"
            )
        if answer.event_id in seen:
            raise ReviewAnswerError(f"answers: event {answer.event_id} is answered twice")
        seen.add(answer.event_id)
        problem = answer_problem(task, question, answer)
        if problem is not None:
            raise ReviewAnswerError(problem)
    missing = [q.event_id for q in task.questions if q.event_id not in seen]
    if missing:
        raise ReviewAnswerError(f"answers: no answer for event(s) {', '.join(missing)}")


def answer_problem(task: ReviewTask, question: EventQuestion, answer: EventAnswer) -> str | None:
    """Why one answer does not fit its question (None: it does), naming the event and the
    field: whom it names must be candidates of the question or people present at its
    moment, the product a candidate, the units within the question's."""
    event = answer.event_id
    if answer.shopper is not None and task.session_of(event, answer.shopper) is None:
        return (
            f"answers[{event}].shopper: {answer.shopper} is neither a candidate"
            " nor somebody present then"
        )
    for k, other in enumerate(answer.also):
        if task.session_of(event, other.shopper) is None:
            return (
                f"answers[{event}].also[{k}].shopper: {other.shopper} is neither"
                " a candidate nor somebody present then"
            )
    if answer.sku is not None and answer.sku not in {p.sku for p in question.products}:
        return f"answers[{event}].sku: {answer.sku} is not a candidate product"
    if answer.total_qty > question.max_qty:
        field = "qty" if not answer.also else "qty and also"
        return f"answers[{event}].{field}: {answer.total_qty} unit(s) exceed {question.max_qty}"
    return None
