"""The finalize workflow's step inputs and outputs (what the state machine passes around).

Inputs ignore keys they do not read: a step sees the whole execution state. Outputs carry
the session key on, because each step's output becomes the state (`OutputPath: $.Payload`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from walkout._base import Identifier
from walkout.cart import ReviewStatus
from walkout.events import UtcTimestamp
from walkout.finalize.scoring import Route
from walkout.review.contract import ReviewOutcome, ReviewTask


class StepModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class SessionKey(StepModel):
    """The execution's input, as issue 6's `FinalizeWorkflow.start` sends it (and, when
    Assess runs again after `AwaitOtherReviews`, how many rounds it has waited)."""

    store_id: Identifier
    session_id: Identifier
    wait_rounds: int = 0


class AssessOutput(StepModel):
    store_id: Identifier
    session_id: Identifier
    route: Route
    confidence: float
    events: int
    reviewed_events: int
    # Events of the session that earlier reviews (of other sessions) answered, and whose
    # answers the assessment counted as certain: IssueReceipt applies them.
    settled_events: list[Identifier] = []
    review: ReviewTask | None = None
    # Route `await-answers`: seconds until the session is assessed again, and the rounds
    # waited so far.
    wait_s: int | None = None
    wait_rounds: int = 0


class Hold(StepModel):
    """A receipt held for the sessions in the store with this one (its exit was doubted):
    since when, and those whose questions were not done at the last look (empty: the last
    look found everyone done, some a moment before, and only the answers they kept had to
    settle)."""

    since: UtcTimestamp
    rounds: int = 0
    waiting_for: list[Identifier] = []
    wait_s: int = 0


class IssueInput(StepModel):
    store_id: Identifier
    session_id: Identifier
    settled_events: list[Identifier] = []
    review: ReviewTask | None = None
    review_outcome: ReviewOutcome | None = None
    hold: Hold | None = None


class ReceiptSummary(StepModel):
    receipt_id: Identifier
    version: int
    review_status: ReviewStatus
    total_minor: int
    needs_audit: bool
    issued_now: bool


class IssueOutput(StepModel):
    store_id: Identifier
    session_id: Identifier
    receipt: ReceiptSummary
    receipt_issued: dict[str, Any]
    held: bool = False


class HeldOutput(IssueInput):
    """IssueReceipt's output while it holds the receipt: its own input again, with the
    hold, for the state machine to bring back after `hold.wait_s` (`held` routes it)."""

    held: bool = True
    hold: Hold


class StepError(StepModel):
    """A caught error as Step Functions writes it (`ResultPath: $.error`)."""

    error: Annotated[str, Field(alias="Error")] = "Unknown"
    cause: Annotated[str | None, Field(alias="Cause")] = None


class FailedState(StepModel):
    """The execution state when a step failed: whatever it holds, plus the caught error."""

    store_id: str | None = None
    session_id: str | None = None
    error: StepError | None = None
    # The review task, when the session had one (its marks on the events are dropped). Read
    # loosely: whatever else is wrong with the state, the session must still be flagged.
    review: dict[str, Any] | None = None

    def asked(self) -> tuple[str | None, list[str]]:
        """The review's task id and the events it asks about (None, []: none readable)."""
        review = self.review or {}
        task_id = review.get("task_id")
        questions = review.get("questions")
        if not isinstance(task_id, str) or not isinstance(questions, list):
            return None, []
        events = [q.get("event_id") for q in questions if isinstance(q, dict)]
        return task_id, [e for e in events if isinstance(e, str)]


class AttentionInput(StepModel):
    state: Annotated[FailedState, Field(alias="input")] = FailedState()
    execution: str | None = None
