"""The review console's side of the API: a reviewer takes the next task, reads it, answers.

Wraps `walkout.review.console.ConsoleReview` (claims, heartbeats, answers sent back with
the task token). What leaves is `ReviewTask.reviewer_view()` with each evidence image as a
presigned S3 GET URL valid for `EVIDENCE_URL_EXPIRY_S`: never a session id, a probability
or a token. Only images of the task's own store under the evidence prefix are signed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, Literal

import boto3
from botocore.config import Config
from pydantic import Field, ValidationError

from walkout import observability as obs
from walkout._base import Identifier, Model
from walkout.api.auth import Caller
from walkout.api.problems import (
    ConflictError,
    ResourceNotFoundError,
    UnprocessableError,
    describe_errors,
)
from walkout.api.tenancy import require_store
from walkout.attribution.record import Action
from walkout.data.catalog_admin import RetailerStores
from walkout.data.dynamo import Clock, utc_clock
from walkout.data.evidence import evidence_of_store
from walkout.data.review_tasks import (
    AnswerConflictError,
    ReviewTasksTable,
    ReviewTaskStatus,
    TaskNotAnswerableError,
)
from walkout.review.console import ConsoleReview, UnknownTaskError
from walkout.review.contract import (
    MAX_QTY,
    MAX_SHOPPERS,
    AnswerLabel,
    EventAnswer,
    ProductCandidate,
    ReviewAnswerError,
    ReviewerPerson,
    ReviewerShopper,
    ReviewerTask,
)

# Long enough to look at a task, short enough that a copied link dies soon.
EVIDENCE_URL_EXPIRY_S: Final = 300


class NextTaskIn(Model):
    store_id: Identifier | None = Field(default=None, description="only this store's tasks")


class OtherTakerIn(Model):
    """Somebody else who moved the same item in the same moment, and how many."""

    shopper: AnswerLabel
    qty: Annotated[int, Field(ge=1, le=MAX_QTY)]


class EventAnswerIn(Model):
    """One event's answer: who (a candidate's letter, the number of somebody present at
    that moment, or null for none of them), what (a candidate SKU, or null when nothing was
    moved), how many (0: nothing), and who else moved that item in the same moment, with
    how many (`also`: two shoppers taking from one lane at once; empty otherwise)."""

    event_id: Identifier
    shopper: AnswerLabel | None
    sku: Identifier | None
    qty: Annotated[int, Field(ge=0, le=MAX_QTY)]
    also: Annotated[list[OtherTakerIn], Field(max_length=MAX_SHOPPERS - 1)] = []


class AnswersIn(Model):
    answers: Annotated[list[EventAnswerIn], Field(min_length=1, max_length=100)]


class AnswerOut(Model):
    task_id: str
    status: Literal["delivered", "expired"] = Field(
        description="delivered: the workflow has it; expired: it had moved on (recorded only)"
    )


class ReviewShopperOut(Model):
    label: str
    colour: str
    colour_hex: str
    position: str = ""
    looks: list[str] = Field(
        default_factory=list,
        description="presigned HTTPS URLs of the shopper's looks at the entry gate (one per"
        " member of a group): whom to recognise on the evidence images",
    )


class ReviewPersonOut(Model):
    label: str
    looks: list[str] = Field(
        default_factory=list,
        description="presigned HTTPS URLs of the person's looks at the entry gate",
    )


class ReviewQuestionOut(Model):
    number: int
    event_id: str
    action: Action
    lane_id: str
    prompt: str
    local_time: str
    evidence: list[str] = Field(description="presigned HTTPS URLs of the evidence images")
    shoppers: list[ReviewShopperOut]
    products: list[ProductCandidate]
    max_qty: int
    present: list[str] = Field(
        default_factory=list,
        description="the numbers of the task's `people` in the store at that moment, other"
        " than the candidates: whom to name when none of the candidates moved the item",
    )


class ReviewTaskOut(Model):
    task_id: str
    store_id: str
    deadline: datetime
    evidence_expires_at: datetime
    questions: list[ReviewQuestionOut]
    people: list[ReviewPersonOut] = Field(
        default_factory=list,
        description="everybody in the store during the task's moments, by number with their"
        " looks at the entry gate (each question lists who of them was there then)",
    )


@functools.cache
def presigning_s3() -> Any:
    """An S3 client that signs URLs with SigV4 (what KMS-encrypted objects require), once
    per process."""
    return boto3.client("s3", config=Config(signature_version="s3v4"))


class EvidenceLinks:
    """Presigned GET URLs for evidence images of one bucket (`generate_presigned_url` is
    local signing: no request is made)."""

    def __init__(self, s3: Any, bucket: str, *, expiry_s: int = EVIDENCE_URL_EXPIRY_S) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.expiry_s = expiry_s

    def url(self, uri: str, store_id: str) -> str | None:
        prefix = f"s3://{self.bucket}/"
        key = uri[len(prefix) :] if uri.startswith(prefix) else ""
        if not key.startswith(evidence_of_store(store_id)) or ".." in key:
            obs.logger.warning("evidence outside the store's prefix left out")
            return None
        url: str = self.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=self.expiry_s,
        )
        return url

    def urls(self, uris: Sequence[str], store_id: str) -> list[str]:
        """`url` of each, those outside the store's evidence left out."""
        return [url for url in (self.url(u, store_id) for u in uris) if url is not None]


class ReviewDesk:
    def __init__(
        self,
        stores: RetailerStores,
        console: ConsoleReview,
        tasks: ReviewTasksTable,
        links: EvidenceLinks,
        *,
        clock: Clock = utc_clock,
    ) -> None:
        self.stores = stores
        self.console = console
        self.tasks = tasks
        self.links = links
        self.clock = clock

    def _out(self, task: ReviewerTask) -> ReviewTaskOut:
        now = self.clock()
        return ReviewTaskOut(
            task_id=task.task_id,
            store_id=task.store_id,
            deadline=task.deadline,
            evidence_expires_at=now + timedelta(seconds=self.links.expiry_s),
            questions=[
                ReviewQuestionOut(
                    number=q.number,
                    event_id=q.event_id,
                    action=q.action,
                    lane_id=q.lane_id,
                    prompt=q.prompt,
                    local_time=q.local_time,
                    evidence=self.links.urls(q.evidence, task.store_id),
                    shoppers=[self._shopper(s, task.store_id) for s in q.shoppers],
                    products=q.products,
                    max_qty=q.max_qty,
                    present=list(q.present),
                )
                for q in task.questions
            ],
            people=[self._person(p, task.store_id) for p in task.people],
        )

    def _shopper(self, shopper: ReviewerShopper, store_id: str) -> ReviewShopperOut:
        return ReviewShopperOut(
            label=shopper.label,
            colour=shopper.colour,
            colour_hex=shopper.colour_hex,
            position=shopper.position,
            looks=self.links.urls(shopper.looks, store_id),
        )

    def _person(self, person: ReviewerPerson, store_id: str) -> ReviewPersonOut:
        return ReviewPersonOut(label=person.label, looks=self.links.urls(person.looks, store_id))

    def next(self, caller: Caller, store_id: str | None) -> ReviewTaskOut | None:
        if store_id is not None:
            require_store(self.stores, caller, store_id)
        task = self.console.next_task(caller.retailer_id, caller.subject, store_id)
        return None if task is None else self._out(task)

    def get(self, caller: Caller, task_id: str) -> ReviewTaskOut:
        stored = self.tasks.get(task_id)
        if (
            stored is None
            or stored.task.retailer_id != caller.retailer_id
            or stored.status is not ReviewTaskStatus.CLAIMED
            or stored.claimed_by != caller.subject
        ):
            raise ResourceNotFoundError(f"review task {task_id} not found among your claimed tasks")
        return self._out(stored.task.reviewer_view())

    def answer(self, caller: Caller, task_id: str, body: AnswersIn) -> AnswerOut:
        answers = []
        for k, given in enumerate(body.answers):
            try:
                answers.append(EventAnswer.model_validate(given.model_dump()))
            except ValidationError as exc:
                detail, _ = describe_errors(exc.errors(include_url=False))
                raise UnprocessableError(f"body.answers[{k}]: {detail}") from None
        try:
            result = self.console.answer_task(
                task_id, answers, reviewer_id=caller.subject, retailer_id=caller.retailer_id
            )
        except UnknownTaskError:
            raise ResourceNotFoundError(f"review task {task_id} not found") from None
        except ReviewAnswerError as exc:
            raise UnprocessableError(f"body.{exc}") from None
        except AnswerConflictError:
            raise ConflictError(f"review task {task_id} was answered differently before") from None
        except TaskNotAnswerableError:
            raise ConflictError(
                f"review task {task_id} is closed: its workflow no longer waits for an answer"
            ) from None
        return AnswerOut(task_id=result.task_id, status=result.status)
