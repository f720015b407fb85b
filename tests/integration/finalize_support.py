"""The finalize workflow on moto: the real ASL file, executed by moto's interpreter, with its
Lambda tasks dispatched in-process to the real handlers (`functions/*/handler.py`).

The deployment and the dispatch are the local runtime's own (`localcloud.deploy`,
`localcloud.dispatch`): every resource from the deployment config, the ASL with CDK's
substitutions, and moto's echoing Lambda backend (and its SNS-to-Lambda delivery) replaced
by a dispatcher that calls the handler the function name stands for and reports a raised
exception the way Lambda does, so the state machine's Retry and Catch see what they would
see on AWS. Here it all runs in-process under `mock_aws`.

Sessions are seeded through the sessions table's own API (`open_session`,
`commit_attribution`), with attribution records written by hand so each test knows exactly
which events are uncertain; carts are priced with `walkout.pricing`, as ingest does.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest_support import REGION, STORE, T0, small_definition
from moto import mock_aws

from localcloud import moto_speed
from localcloud.deploy import Deployment
from localcloud.deploy import deploy as localcloud_deploy
from localcloud.dispatch import Dispatcher, install
from walkout.attribution.effects import cart_after
from walkout.attribution.record import Action, Attribution, Hypothesis, SessionShare
from walkout.cart import Cart
from walkout.config import DeploymentConfig, ReviewBackend
from walkout.data import dynamo
from walkout.data.receipts import ReceiptsTable
from walkout.data.review_tasks import ReviewTasksTable
from walkout.data.sessions import CartRecord, CartWrite, SessionRecord, SessionsTable
from walkout.data.stores import StoreDefinitions
from walkout.data.task_tokens import TaskCallbacks
from walkout.data.workflow import FinalizeWorkflow
from walkout.definition import StoreDefinition
from walkout.finalize.questions import task_id_for
from walkout.ingest.lifecycle import SessionStatus
from walkout.pricing import price_items
from walkout.review.console import ConsoleReview
from walkout.review.contract import ReviewTask
from walkout.settings import get_settings

ACCOUNT = "123456789012"


# --- attribution records, as ingest would have written them ----------------------------------


def look_key(session_id: str) -> str:
    """Where a seeded session's look at the gate is (its `session.entered`'s evidence: the
    edge's event and track ids name it, never the session; reviewers see the key)."""
    opaque = hashlib.sha256(session_id.encode()).hexdigest()[:16]
    return f"stores/{STORE}/evidence/{opaque}/entry-cam-1.jpg"


@dataclass(frozen=True)
class Pick:
    """One shelf event for seeding: the decision, its alternatives, and the sessions' shares.

    `who`: (session, P(that session moved it)) for every candidate session; the first is
    the decision's. `what`: (sku, qty, P) for the decision's item and its alternatives.
    `p`: the decision's joint probability (its session's receipt factor).
    """

    lane: str
    who: Sequence[tuple[str, float]]
    what: Sequence[tuple[str, int, float]]
    p: float
    action: Action = Action.PICK
    # (session, P) weighed as alternatives but not close enough for ingest to write their
    # carts: reviewers may be shown them, their carts do not carry the event.
    unwritten: Sequence[tuple[str, float]] = ()


def attribution_of(pick: Pick, event_id: str, at: datetime, store_id: str = STORE) -> Attribution:
    chosen_session = pick.who[0][0]
    sku, qty, _ = pick.what[0]
    decision = Hypothesis(session_id=chosen_session, sku=sku, qty=qty, probability=pick.p)
    alternatives = [
        Hypothesis(session_id=chosen_session, sku=s, qty=q, probability=p)
        for s, q, p in pick.what[1:]
    ] + [
        Hypothesis(session_id=s, sku=sku, qty=qty, probability=p)
        for s, p in (*pick.who[1:], *pick.unwritten)
    ]
    shares = [
        SessionShare(
            session_id=s,
            probability=p,
            factor=pick.p if i == 0 else max(0.0, 1.0 - p),
            chosen=i == 0,
        )
        for i, (s, p) in enumerate(pick.who)
    ]
    grams = 100.0 * qty
    return Attribution(
        event_id=event_id,
        store_id=store_id,
        lane_id=pick.lane,
        action=pick.action,
        delta_g=-grams if pick.action is Action.PICK else grams,
        t_start=at - timedelta(seconds=1),
        t_end=at,
        decision=decision,
        p_who=pick.who[0][1],
        p_what=pick.what[0][2],
        alternatives=alternatives,
        sessions=shares,
        reasons=["seeded by the finalize test"],
        model="test",
    )


@dataclass(frozen=True)
class Seeded:
    """The seeded sessions' real names (by the names the picks used) and the event ids."""

    names: dict[str, str]
    events: list[str]

    def __getitem__(self, name: str) -> str:
        return self.names[name]


# --- the deployment ---------------------------------------------------------------------------


@dataclass
class FinalizeCloud:
    config: DeploymentConfig
    definition: StoreDefinition
    dispatcher: Dispatcher
    state_machine_arn: str
    bus_name: str
    receipts_queue: str
    gt_input_queue: str
    gt_output_topic: str
    review_bucket: str
    evidence_bucket: str
    started: dict[str, float] = field(default_factory=dict)
    event_numbers: Iterator[int] = field(default_factory=itertools.count)
    bus_events: list[dict[str, Any]] = field(default_factory=list)
    seeded_sessions: int = 0
    deployment: Deployment | None = None

    def configure(
        self,
        *,
        backend: ReviewBackend = ReviewBackend.CONSOLE,
        review_timeout_s: int = 30,
        review_heartbeat_s: int = 20,
        review_await_s: int = 1,
        doubted_exit_hold_s: int = 0,
        hold_every_exit: bool = False,
    ) -> FinalizeCloud:
        """Settings for the next executions (a fresh "container" for every function). A
        held receipt looks again every second."""
        os.environ["WALKOUT_REVIEW_BACKEND"] = backend.value
        os.environ["WALKOUT_REVIEW_TIMEOUT_S"] = str(review_timeout_s)
        os.environ["WALKOUT_REVIEW_HEARTBEAT_S"] = str(review_heartbeat_s)
        os.environ["WALKOUT_REVIEW_AWAIT_S"] = str(review_await_s)
        os.environ["WALKOUT_DOUBTED_EXIT_HOLD_S"] = str(doubted_exit_hold_s)
        os.environ["WALKOUT_DOUBTED_EXIT_POLL_S"] = "1"
        os.environ["WALKOUT_HOLD_EVERY_EXIT"] = str(hold_every_exit).lower()
        get_settings.cache_clear()
        with self.dispatcher.lock:
            self.dispatcher.modules.clear()
            self.dispatcher.failures.clear()
            self.dispatcher.calls.clear()
        return self

    @property
    def ddb(self) -> Any:
        return dynamo.client("dynamodb")

    @property
    def sfn(self) -> Any:
        return dynamo.client("stepfunctions")

    @property
    def sqs(self) -> Any:
        return dynamo.client("sqs")

    @property
    def s3(self) -> Any:
        return dynamo.client("s3")

    @property
    def sns(self) -> Any:
        return dynamo.client("sns")

    def sessions(self) -> SessionsTable:
        return SessionsTable(
            self.ddb,
            self.config.table_name("sessions"),
            ttl_days=14,
            clock=lambda: datetime.now(UTC),
        )

    def receipts(self) -> ReceiptsTable:
        return ReceiptsTable(
            self.ddb, self.config.table_name("receipts"), clock=lambda: datetime.now(UTC)
        )

    def review_tasks(self) -> ReviewTasksTable:
        return ReviewTasksTable(
            self.ddb,
            self.config.table_name("sessions"),
            ttl_days=14,
            clock=lambda: datetime.now(UTC),
        )

    def console(self) -> ConsoleReview:
        return ConsoleReview(self.review_tasks(), TaskCallbacks(self.sfn))

    # seeding ---------------------------------------------------------------------------------

    def price(self, items: dict[str, int], session_id: str, version: int, at: datetime) -> Cart:
        return price_items(
            items,
            self.definition.catalog,
            prices_include_tax=self.definition.store.prices_include_tax,
            at=at,
        ).to_cart(store_id=STORE, session_id=session_id, version=version, updated_at=at)

    def seed(
        self,
        picks: Sequence[Pick],
        *,
        exit_s: float = 300.0,
        status: SessionStatus = SessionStatus.READY,
        same_person: float | None = None,
        day: int = 0,
    ) -> Seeded:
        """Open every session the picks name (under names unique in this deployment),
        commit the picks in order as ingest would, and close the sessions. `same_person`:
        what the edge said, at each session's exit, of its track following the shopper who
        entered (None: nothing said). `day`: that many days after the others (sessions
        seeded on one day were all in the store together)."""
        t0 = T0 + timedelta(days=day)
        self.seeded_sessions += 1
        tag = self.seeded_sessions
        table = self.sessions()
        names = {
            s: f"{s}-{tag}" for s in sorted({s for p in picks for s, _ in (*p.who, *p.unwritten)})
        }
        carts: dict[str, CartRecord] = {}
        exit_at = t0 + timedelta(seconds=exit_s)
        for i, session_id in enumerate(names.values()):
            record = SessionRecord(
                store_id=STORE,
                session_id=session_id,
                status=status,
                tracks=[f"t-{session_id}"],
                exits={f"t-{session_id}": exit_at} if status is not SessionStatus.OPEN else {},
                gate_id="in",
                account_ref=f"acct-{session_id}",
                entered_at=t0 + timedelta(seconds=i),
                opened_by=f"open-{session_id}",
                exit_at=exit_at if status is not SessionStatus.OPEN else None,
                ready_at=exit_at if status is SessionStatus.READY else None,
                same_person={} if same_person is None else {f"t-{session_id}": same_person},
                looks=[look_key(session_id)],
            )
            cart = CartRecord(
                store_id=STORE,
                session_id=session_id,
                cart=self.price({}, session_id, 0, record.entered_at),
            )
            assert table.open_session(record, cart) is None
            carts[session_id] = cart
        events = []
        for n, pick in enumerate(picks):
            at = t0 + timedelta(seconds=10 + 10 * n)
            event_id = f"01JEVT{next(self.event_numbers):020d}"
            renamed = Pick(
                pick.lane,
                [(names[s], p) for s, p in pick.who],
                pick.what,
                pick.p,
                pick.action,
                [(names[s], p) for s, p in pick.unwritten],
            )
            attribution = attribution_of(renamed, event_id, at)
            writes = []
            for share in attribution.sessions:
                current = carts[share.session_id]
                update: dict[str, Any] = {
                    "factors": {**current.factors, event_id: share.factor},
                    "rev": current.rev + 1,
                }
                if share.chosen:
                    items = cart_after(current.items, attribution, share.session_id)
                    update["items"] = items
                    update["cart"] = self.price(
                        items, share.session_id, current.cart.version + 1, at
                    )
                writes.append(
                    CartWrite(record=current.model_copy(update=update), expected_rev=current.rev)
                )
            assert table.commit_attribution(attribution, writes, None)
            for write in writes:
                carts[write.record.session_id] = write.record
            events.append(event_id)
        return Seeded(names, events)

    def look_uri(self, session_id: str) -> str:
        return f"s3://{self.evidence_bucket}/{look_key(session_id)}"

    def put_evidence(
        self, event_id: str, names: Sequence[str] = ("reach-cam-1", "reach-cam-2")
    ) -> None:
        s3 = dynamo.client("s3")
        for name in names:
            s3.put_object(
                Bucket=self.evidence_bucket,
                Key=f"stores/{STORE}/evidence/{event_id}/{name}.jpg",
                Body=b"\xff\xd8\xff\xe0 jpeg",
            )

    # running ---------------------------------------------------------------------------------

    def start(self, session_id: str) -> str:
        """Hand the session over exactly as ingest does (`FinalizeWorkflow.start`)."""
        arn = FinalizeWorkflow(self.sfn, self.state_machine_arn).start(STORE, session_id)
        self.started[arn] = time.monotonic()
        return arn

    def wait(self, execution_arn: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.02)
        raise AssertionError(f"{execution_arn} still running after {timeout_s} s")

    def wait_for_state(self, execution_arn: str, state: str, timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if state in self.entered_states(execution_arn):
                return
            time.sleep(0.02)
        raise AssertionError(f"{execution_arn} never entered {state}")

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return list(self.sfn.get_execution_history(executionArn=execution_arn)["events"])

    def entered_states(self, execution_arn: str) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history(execution_arn)
            if e["type"].endswith("StateEntered")
        ]

    def transitions(self, execution_arn: str) -> int:
        """State transitions, as Standard workflows are billed: one per state entered."""
        return len(self.entered_states(execution_arn))

    def receipt_events(
        self, session_id: str | None = None, wait_s: float = 5.0, expect: int = 1
    ) -> list[dict[str, Any]]:
        """`ReceiptIssued` events that reached the bus's queue target (of one session)."""
        deadline = time.monotonic() + wait_s
        while True:
            for message in self.sqs.receive_message(
                QueueUrl=self.receipts_queue, MaxNumberOfMessages=10
            ).get("Messages", []):
                self.bus_events.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.receipts_queue, ReceiptHandle=message["ReceiptHandle"]
                )
            found = [
                e
                for e in self.bus_events
                if session_id is None or e["detail"]["session_id"] == session_id
            ]
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def queued_task(self, session_id: str, timeout_s: float = 10.0) -> ReviewTask:
        """The session's review task once the workflow stored it and waits for its answer
        (console backend). moto takes heartbeats only once the step waits, a moment after
        the queue function stored the task (a reviewer taking it before then would find the
        workflow gone and close it); AWS takes them as soon as the step has started."""
        deadline = time.monotonic() + timeout_s
        task_id = task_id_for(STORE, session_id)
        while time.monotonic() < deadline:
            stored = self.review_tasks().get(task_id)
            if stored is not None and TaskCallbacks(self.sfn).heartbeat(stored.token):
                return stored.task
            time.sleep(0.02)
        raise AssertionError(f"no review task is waiting for {session_id}")

    def gt_input_lines(self, wait_s: float = 10.0) -> list[dict[str, Any]]:
        """What Ground Truth would take from the input topic (raw SNS messages)."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(
                QueueUrl=self.gt_input_queue, MaxNumberOfMessages=10
            ).get("Messages", [])
            if messages:
                for m in messages:
                    self.sqs.delete_message(
                        QueueUrl=self.gt_input_queue, ReceiptHandle=m["ReceiptHandle"]
                    )
                return [json.loads(m["Body"]) for m in messages]
            time.sleep(0.02)
        raise AssertionError("nothing arrived on the Ground Truth input topic")

    def invoke(self, suffix: str, event: Any) -> Any:
        """Invoke a function through moto's Lambda API, as Ground Truth would."""
        response = dynamo.client("lambda").invoke(
            FunctionName=f"{self.config.prefix}-{suffix}", Payload=json.dumps(event).encode()
        )
        payload = json.loads(response["Payload"].read())
        assert "FunctionError" not in response, payload
        return payload


def deploy() -> FinalizeCloud:
    """Inside an active `mock_aws`: the stack's resources (`localcloud.deploy`, the same
    code the local runtime uses) and the test store."""
    config = DeploymentConfig(stage="test", review_backend=ReviewBackend.CONSOLE)
    deployment = localcloud_deploy(dynamo.client, config, REGION, ACCOUNT)
    definition = small_definition()
    StoreDefinitions(dynamo.client("dynamodb"), config.table_name("stores")).put(
        definition, version=1, updated_at=T0
    )
    os.environ.update(deployment.environment)
    cloud = FinalizeCloud(
        config=config,
        definition=definition,
        dispatcher=Dispatcher(prefix=config.prefix),
        state_machine_arn=deployment.state_machine_arn,
        bus_name=deployment.bus_name,
        receipts_queue=deployment.receipts_queue,
        gt_input_queue=deployment.gt_input_queue,
        gt_output_topic=deployment.review_output_topic,
        review_bucket=deployment.review_bucket,
        evidence_bucket=deployment.evidence_bucket,
        deployment=deployment,
    )
    return cloud.configure()


def finalize_cloud() -> Iterator[FinalizeCloud]:
    """A fresh moto account with the finalize deployment (for a module-scoped fixture; each
    test calls `configure` and seeds sessions under names of its own)."""
    saved = dict(os.environ)
    os.environ.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_NAMESPACE="Walkout",
    )
    try:
        with mock_aws(
            config={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
            }
        ):
            dynamo.client.cache_clear()
            cloud = deploy()
            restore = install(cloud.dispatcher, topic_arn=cloud.deployment.topic_of)
            # Executions run their Lambdas on moto's threads, and moto's TransactWriteItems
            # copies a whole table while another thread may write to it ("dictionary
            # changed size during iteration"): DynamoDB's writes one at a time, as the
            # local runtime's moto_speed does (only that part of it).
            restore_moto = moto_speed.serialise_dynamodb()
            try:
                yield cloud
            finally:
                restore_moto()
                restore()
    finally:
        dynamo.client.cache_clear()
        get_settings.cache_clear()
        os.environ.clear()
        os.environ.update(saved)
