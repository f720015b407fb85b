"""The operational routes: sessions, receipts, disputes, review tasks and store metrics.

Thin like the store routes: resolve the caller (a role that may not use a route gets 403
before anything is read), call the service, shape the output. Tenancy lives in the
services (`walkout.api.tenancy`): another retailer's store, session, receipt, dispute or
task is a 404, and a shopper reaches only the sessions their token names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from walkout.api.auth import Caller, Role
from walkout.api.metrics import MetricsOut
from walkout.api.params import (
    READERS,
    Cursor,
    DisputeId,
    From,
    Limit,
    SessionId,
    StoreId,
    TaskId,
    To,
    as_range,
    json_response,
    responses,
)
from walkout.api.receipts import (
    DecisionIn,
    DisputeIn,
    DisputeListOut,
    DisputeOut,
    ReceiptListOut,
    ReceiptOut,
    ReceiptVersionsOut,
    dispute_out,
    receipt_out,
)
from walkout.api.review import AnswerOut, AnswersIn, NextTaskIn, ReviewTaskOut
from walkout.api.services import Operations
from walkout.api.sessions import SessionDetailOut, SessionListOut
from walkout.data.receipts import DisputeStatus
from walkout.ingest.lifecycle import SessionStatus

DAY_S: Final = 86_400.0
REVIEWERS: Final = (Role.REVIEWER, Role.ADMIN)
STAFF_OR_SHOPPER: Final = (Role.ADMIN, Role.REVIEWER, Role.SHOPPER)


def register_operations(
    app: APIGatewayHttpResolver,
    caller: Callable[..., Caller],
    ops: Callable[[], Operations],
) -> None:
    # --- sessions -----------------------------------------------------------------------
    @app.get(
        "/stores/<store_id>/sessions",
        tags=["sessions"],
        summary="A store's sessions in one status, by the time of that status",
        description="Open sessions are ordered by entry, closing ones by exit, ready ones by"
        " readiness; `from`/`to` bound that time (both optional).",
        responses=responses(200),
    )
    def list_sessions(
        store_id: StoreId,
        *,
        status: Annotated[SessionStatus, Query(description="open, closing or ready")],
        since: From = None,
        until: To = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> SessionListOut:
        return ops().sessions.list(
            caller(*READERS),
            store_id,
            status,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )

    @app.get(
        "/stores/<store_id>/sessions/<session_id>",
        tags=["sessions"],
        summary="One session with its cart, events and attribution records",
        responses=responses(200),
    )
    def get_session(store_id: StoreId, session_id: SessionId) -> SessionDetailOut:
        return ops().sessions.detail(caller(*READERS), store_id, session_id)

    # --- receipts -----------------------------------------------------------------------
    @app.get(
        "/stores/<store_id>/receipts",
        tags=["receipts"],
        summary="A store's receipt versions by issue (or adjustment) time",
        description="`to` defaults to now, `from` to a day before `to`.",
        responses=responses(200),
    )
    def list_receipts(
        store_id: StoreId,
        since: From = None,
        until: To = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> ReceiptListOut:
        start, end = as_range(since, until, DAY_S)
        return ops().receipts.in_range(
            caller(*READERS), store_id, since=start, until=end, limit=limit, cursor=cursor
        )

    @app.get(
        "/stores/<store_id>/receipts/<session_id>",
        tags=["receipts"],
        summary="A session's receipt, latest version (staff, or the session's shopper)",
        responses=responses(200),
    )
    def get_receipt(store_id: StoreId, session_id: SessionId) -> ReceiptOut:
        return receipt_out(ops().receipts.latest(caller(*STAFF_OR_SHOPPER), store_id, session_id))

    @app.get(
        "/stores/<store_id>/receipts/<session_id>/versions",
        tags=["receipts"],
        summary="Every version of a session's receipt, oldest first",
        responses=responses(200),
    )
    def get_receipt_versions(store_id: StoreId, session_id: SessionId) -> ReceiptVersionsOut:
        versions = ops().receipts.versions(caller(*STAFF_OR_SHOPPER), store_id, session_id)
        return ReceiptVersionsOut(items=[receipt_out(r) for r in versions])

    # --- disputes -----------------------------------------------------------------------
    @app.post(
        "/stores/<store_id>/receipts/<session_id>/disputes",
        tags=["disputes"],
        summary="Dispute a line of the receipt (the session's shopper, or an admin)",
        description="One dispute per line per receipt version: repeating the request"
        " returns the dispute filed first (200).",
        responses=responses(201, "Filed", extra={200: "Filed before"}),
    )
    def file_dispute(
        store_id: StoreId, session_id: SessionId, body: DisputeIn
    ) -> Response[DisputeOut]:
        who = caller(Role.SHOPPER, Role.ADMIN)
        stored, created = ops().receipts.file(who, store_id, session_id, body)
        return json_response(201 if created else 200, dispute_out(stored))

    @app.get(
        "/stores/<store_id>/receipts/<session_id>/disputes",
        tags=["disputes"],
        summary="A receipt's disputes (staff, or the session's shopper)",
        responses=responses(200),
    )
    def list_receipt_disputes(store_id: StoreId, session_id: SessionId) -> DisputeListOut:
        found = ops().receipts.disputes_of(caller(*STAFF_OR_SHOPPER), store_id, session_id)
        return DisputeListOut(items=[dispute_out(d) for d in found], next_cursor=None)

    @app.get(
        "/stores/<store_id>/disputes",
        tags=["disputes"],
        summary="A store's disputes in one status, oldest first",
        responses=responses(200),
    )
    def list_disputes(
        store_id: StoreId,
        status: Annotated[DisputeStatus, Query()] = DisputeStatus.OPEN,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> DisputeListOut:
        return ops().receipts.disputes(
            caller(*READERS), store_id, status, limit=limit, cursor=cursor
        )

    @app.put(
        "/stores/<store_id>/receipts/<session_id>/disputes/<dispute_id>/decision",
        tags=["disputes"],
        summary="Accept (refund: a new receipt version and RefundIssued) or reject a dispute",
        description="Repeating a decision returns it (accept re-sends RefundIssued, whose"
        " `refund_id` lets consumers drop duplicates); the other decision afterwards is a"
        " 409. A 503 means the refund was recorded but its event not sent: repeat.",
        responses=responses(200, extra={503: "Recorded, but the event could not be sent"}),
    )
    def decide_dispute(
        store_id: StoreId, session_id: SessionId, dispute_id: DisputeId, body: DecisionIn
    ) -> DisputeOut:
        decided = ops().receipts.decide(caller(Role.ADMIN), store_id, session_id, dispute_id, body)
        return dispute_out(decided)

    # --- review tasks -------------------------------------------------------------------
    @app.post(
        "/review-tasks/next",
        tags=["review"],
        summary="Take the next review task of the caller's retailer (optionally one store's)",
        description="Claims the task for the caller for 15 minutes. Evidence images are"
        " presigned URLs valid for 5 minutes (`evidence_expires_at`).",
        responses=responses(
            200, "The task", or_no_content="No task is waiting", success_model=ReviewTaskOut
        ),
    )
    def next_review_task(
        body: Annotated[NextTaskIn | None, Body()] = None,
    ) -> Response[ReviewTaskOut | None]:
        who = caller(*REVIEWERS)
        task = ops().review.next(who, body.store_id if body else None)
        if task is None:
            return Response(status_code=204)
        return json_response(200, task)

    @app.get(
        "/review-tasks/<task_id>",
        tags=["review"],
        summary="A review task the caller has claimed",
        responses=responses(200),
    )
    def get_review_task(task_id: TaskId) -> ReviewTaskOut:
        return ops().review.get(caller(*REVIEWERS), task_id)

    @app.post(
        "/review-tasks/<task_id>/answers",
        tags=["review"],
        summary="Answer every event of a task; the answer goes back to the workflow",
        description="`status` expired: the workflow had moved on (the answer is recorded for"
        " audit only). The same answer twice is harmless; a different one is a 409.",
        responses=responses(200),
    )
    def answer_review_task(task_id: TaskId, body: AnswersIn) -> AnswerOut:
        return ops().review.answer(caller(*REVIEWERS), task_id, body)

    # --- metrics ------------------------------------------------------------------------
    @app.get(
        "/stores/<store_id>/metrics",
        tags=["metrics"],
        summary="Review rate, auto-finalized share, receipt latency, quarantined events",
        description="`to` defaults to now, `from` to a day before `to`; at most 31 days.",
        responses=responses(200),
    )
    def store_metrics(store_id: StoreId, since: From = None, until: To = None) -> MetricsOut:
        start, end = as_range(since, until, DAY_S)
        return ops().metrics.compute(caller(*READERS), store_id, start, end)
