"""The console adapter: review tasks queued in DynamoDB, answered through the HTTP API.

The workflow's review step invokes the queue function with the task and its token
(`enqueue`). The API (next issue) calls `next_task` when a reviewer asks for work and
`answer_task` when they submit; `answer_task` hands the answer to the workflow
(`SendTaskSuccess`). Taking a task sends the workflow a heartbeat, so a task a reviewer is
working on is not given up on; a task nobody takes within the heartbeat interval falls
back (customer-favourable), as does one not answered within the review timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from walkout import observability as obs
from walkout.config import ReviewBackend
from walkout.data.dynamo import Clock, utc_clock
from walkout.data.review_tasks import ReviewTasksTable, ReviewTaskStatus, StoredReviewTask
from walkout.data.task_tokens import TaskCallbacks
from walkout.review.contract import (
    REVIEW_UNRESOLVED,
    EventAnswer,
    ReviewAnswer,
    ReviewerTask,
    ReviewTask,
    check_answers,
)

# A reviewer who took a task and went quiet for this long loses it to the next reviewer.
CLAIM_TIMEOUT_S: Final = 15 * 60
# How many queued tasks `next_task` looks at before saying there is no work.
SCAN_LIMIT: Final = 25
# Tasks read from the queue a page at a time (a task is 13-62 KB): the oldest is usually
# taken from the first page, so a look reads a few tasks, not the whole backlog.
QUEUE_PAGE: Final = 5


class UnknownTaskError(LookupError):
    pass


class NotYourTaskError(UnknownTaskError):
    """The task is not claimed by this reviewer, or their claim lapsed: answers come only
    from the reviewer holding a live claim (taken through `next_task`). Unknown to the
    caller, like another retailer's task."""


@dataclass(frozen=True)
class AnswerResult:
    task_id: str
    # delivered: the workflow has the answer; expired: it had moved on (timed out), the
    # answer is recorded for audit but the receipt was issued without it.
    status: Literal["delivered", "expired"]


class ConsoleReview:
    def __init__(
        self,
        tasks: ReviewTasksTable,
        callbacks: TaskCallbacks,
        *,
        clock: Clock = utc_clock,
        claim_timeout_s: float = CLAIM_TIMEOUT_S,
    ) -> None:
        self.tasks = tasks
        self.callbacks = callbacks
        self.clock = clock
        self.claim_timeout_s = claim_timeout_s

    def enqueue(self, task: ReviewTask, token: str) -> bool:
        """Queue a task with the review step's token. A task settled before (the step was
        retried after a reviewer answered it) is settled again at once with the new token:
        its recorded answer, or the unresolved outcome if it was closed. Returns whether
        the task was queued."""
        queued = self.tasks.put(task, token)
        obs.logger.info(
            "review task queued" if queued else "review task was settled before",
            extra={
                "task_id": task.task_id,
                "store_id": task.store_id,
                "events": len(task.questions),
            },
        )
        if not queued:
            recorded = self.tasks.answer(task.task_id)
            if recorded is not None:
                self.callbacks.succeed(token, recorded.answer.model_dump(mode="json"))
            else:
                self.callbacks.fail(token, REVIEW_UNRESOLVED, f"task {task.task_id} was closed")
        return queued

    def next_task(
        self, retailer_id: str, reviewer_id: str, store_id: str | None = None
    ) -> ReviewerTask | None:
        """Give the reviewer the retailer's oldest waiting task (optionally of one store),
        as they may see it; None when there is none."""
        now = self.clock()
        looked = 0
        for status in (ReviewTaskStatus.OPEN, ReviewTaskStatus.CLAIMED):
            for stored in self.tasks.queued(retailer_id, status, store_id, QUEUE_PAGE):
                looked += 1
                if looked > SCAN_LIMIT:
                    return None
                if stored.task.deadline <= now:
                    self.tasks.close(stored.task.task_id, "deadline passed")
                    continue
                claimed = self.tasks.claim(
                    stored, reviewer_id, claim_timeout_s=self.claim_timeout_s
                )
                if claimed is None:
                    continue
                if not self.callbacks.heartbeat(claimed.token):
                    self.tasks.close(claimed.task.task_id, "the workflow stopped waiting")
                    continue
                return claimed.task.reviewer_view()
        return None

    def answer_task(
        self,
        task_id: str,
        answers: Sequence[EventAnswer],
        *,
        reviewer_id: str,
        retailer_id: str,
    ) -> AnswerResult:
        """Record the reviewer's answers and hand them to the workflow. Raises
        `ReviewAnswerError` (bad answers, naming the field), `UnknownTaskError` (no such
        task for this retailer: another retailer's task is not even confirmed to exist),
        `NotYourTaskError` (a subclass: not claimed by this reviewer, or the claim lapsed),
        `AnswerConflictError` (answered differently before) or `TaskNotAnswerableError`."""
        stored = self.tasks.get(task_id)
        if stored is None or stored.task.retailer_id != retailer_id:
            raise UnknownTaskError(f"task {task_id} is unknown")
        self._check_claim(stored, reviewer_id)
        check_answers(stored.task, answers)
        answer = ReviewAnswer(
            task_id=task_id,
            answers=list(answers),
            reviewers=1,
            agreement=1.0,
            source=ReviewBackend.CONSOLE,
            answered_at=self.clock(),
        )
        recorded = self.tasks.answer_console_task(stored, answer, reviewer_id)
        return self._deliver(stored, recorded.answer)

    def _check_claim(self, stored: StoredReviewTask, reviewer_id: str) -> None:
        """Only the claim's holder answers; an answered or closed task keeps its holder, so
        they may repeat their answer (or learn it is closed). A claim older than the claim
        timeout is the next reviewer's to take: its holder takes it again first."""
        task_id = stored.task.task_id
        if stored.claimed_by != reviewer_id:
            raise NotYourTaskError(f"task {task_id} is not claimed by this reviewer")
        if stored.status is ReviewTaskStatus.CLAIMED and (
            stored.claimed_at is None
            or (self.clock() - stored.claimed_at).total_seconds() > self.claim_timeout_s
        ):
            raise NotYourTaskError(f"task {task_id}: the claim lapsed, take it again")

    def _deliver(self, stored: StoredReviewTask, answer: ReviewAnswer) -> AnswerResult:
        delivered = self.callbacks.succeed(stored.token, answer.model_dump(mode="json"))
        obs.logger.info(
            "review answer delivered" if delivered else "review answer arrived too late",
            extra={"task_id": stored.task.task_id, "store_id": stored.task.store_id},
        )
        return AnswerResult(stored.task.task_id, "delivered" if delivered else "expired")
