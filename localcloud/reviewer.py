"""The simulated reviewer: answers review tasks from a recording's ground truth, through
either review adapter, with a configurable error rate and delay.

What it knows: a real reviewer looks at the evidence (reach images, the shoppers' colours
and looks at the gate) and recognises who took what. The simulated one reads the truth
instead (`truth.json`: which session took which SKU and how many, at which lane and time)
and the full task (the session behind each shopper letter and each number of the people
present, which the worker view hides), and answers what the truth says happened at that
lane in that event's time window: the letter of the candidate who did it, else their
number among the people present, else none of them; where two shoppers moved that
product there together and the shelf weighed both (one change), both, each with their
units (`also`). It is an idealised reviewer: it
picks the right person out of forty as surely as out of two. With probability
`error_rate` an answer is wrong on purpose (another shopper, else another product, else
another quantity).

Two adapters, each exercised as in production:
- console (`ConsoleReviewer`): takes the oldest task with `ConsoleReview.next_task` (the
  heartbeat to the workflow included), waits `delay_s`, answers with `answer_task`
  (`SendTaskSuccess`), exactly the calls the HTTP API makes;
- Ground Truth (`GroundTruthReviewer`): behaves as a streaming labeling job does. It reads
  the input topic's messages from the job's SQS queue, invokes the pre-annotation Lambda
  with `{"version", "labelingJobArn", "dataObject"}`, has `workers_per_task` simulated
  workers fill the form (the `walkout-answers` field), writes their annotations to S3 in
  Ground Truth's consolidation payload format, invokes the consolidation Lambda, and
  publishes the output-manifest line (input keys + label + metadata) to the output topic,
  whose subscribed result function sends the answer to the workflow.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from walkout.attribution.record import Action
from walkout.data.dynamo import error_code
from walkout.data.review_tasks import ReviewTasksTable
from walkout.data.sessions import SessionsTable, attributions_of
from walkout.data.task_tokens import CLOSED_TOKEN_CODES, TaskCallbacks
from walkout.review.console import ConsoleReview
from walkout.review.contract import EventAnswer, EventQuestion, OtherTaker, ReviewTask
from walkout.review.groundtruth import ANSWERS_FIELD, LABEL_ATTRIBUTE, task_of

# How far around an event's window a true pick or return still counts as that event (the
# load cells' clocks are skewed by tens of milliseconds; the edge's window is its own).
MATCH_TOLERANCE_S = 1.5
GT_PROTOCOL_VERSION = "2018-10-06"
POLL_S = 0.1
IDLE_POLL_MAX_S = 1.0
# With a `WorkSignal`, an idle console reviewer looks again when a task was queued, or
# after this long at the latest.
SIGNALLED_IDLE_MAX_S = 10.0


@dataclass(frozen=True)
class TruthEvent:
    ts: float
    kind: str
    session_id: str
    sku: str
    qty: int
    delta_g: float  # what the shelf weighed (negative for a pick)


class Truth:
    """The recording's picks and returns by lane (`truth.json`)."""

    def __init__(
        self,
        events: Sequence[TruthEvent],
        by_lane: Mapping[str, list[TruthEvent]],
        sessions_by_account: Mapping[str, str],
        receipts: Mapping[str, Mapping[str, int]],
    ) -> None:
        self.events = events
        self.by_lane = by_lane
        # The gate scan's account token -> the truth's session (one scan per group).
        self.sessions_by_account = sessions_by_account
        self.receipts = receipts

    @classmethod
    def load(cls, recording: Path) -> Truth:
        path = recording / "truth.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read the recording's truth ({exc})") from None
        by_lane: dict[str, list[TruthEvent]] = defaultdict(list)
        events = []
        for e in raw.get("events", []):
            event = TruthEvent(
                float(e["ts"]),
                str(e["kind"]),
                str(e["session_id"]),
                str(e["sku"]),
                int(e["qty"]),
                float(e["delta_g"]),
            )
            by_lane[str(e["lane_id"])].append(event)
            events.append(event)
        sessions = raw.get("sessions", [])
        return cls(
            events,
            dict(by_lane),
            {str(x["account_ref"]): str(x["session_id"]) for x in sessions},
            {str(x["session_id"]): dict(x.get("receipt") or {}) for x in sessions},
        )

    def what_happened(self, question: EventQuestion) -> Happened | None:
        """What the truth has at the question's lane and time (None: nothing): the sku
        of the true change closest to the event's end, and who moved it there then with
        their units, that closest change's session first. Another true change of that sku
        counts only where the shelf weighed it too (the event's weight is nearer the sum
        with it than without): two picks the edge saw as two events are two questions,
        each about one of them, as a reviewer would see on each one's images."""
        start = question.t_start.timestamp() - MATCH_TOLERANCE_S
        end = question.t_end.timestamp() + MATCH_TOLERANCE_S
        kind = "pick" if question.action is Action.PICK else "return"
        near = [
            e
            for e in self.by_lane.get(question.lane_id, [])
            if start <= e.ts <= end and e.kind == kind
        ]
        if not near:
            return None
        middle = question.t_end.timestamp()
        by_closeness = sorted(near, key=lambda e: abs(e.ts - middle))
        closest = by_closeness[0]
        takers = {closest.session_id: closest.qty}
        weighed = closest.delta_g
        for e in by_closeness[1:]:
            if e.sku != closest.sku:
                continue
            if abs(question.delta_g - (weighed + e.delta_g)) < abs(question.delta_g - weighed):
                takers[e.session_id] = takers.get(e.session_id, 0) + e.qty
                weighed += e.delta_g
        return Happened(closest.sku, list(takers.items()))


@dataclass(frozen=True)
class Happened:
    """A true change as a reviewer sees it: the sku, and who moved how many (in order)."""

    sku: str
    takers: list[tuple[str, int]]

    @property
    def session_id(self) -> str:
        return self.takers[0][0]


@dataclass
class Answered:
    answers: list[EventAnswer]
    wrong: int


class Oracle:
    """Answers questions from the truth, wrong with probability `error_rate`."""

    def __init__(
        self,
        truth: Truth,
        error_rate: float,
        truth_session: Callable[[str], str | None],
        seed: int = 0,
    ) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"reviewer error rate must be within 0..1, got {error_rate}")
        self.truth = truth
        # The cloud's session id -> the truth's (what a reviewer recognises on the images).
        self.truth_session = truth_session
        self.error_rate = error_rate
        self.rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
        self.lock = threading.Lock()

    def answer_task(self, task: ReviewTask) -> Answered:
        answers, wrong = [], 0
        for question in task.questions:
            answer = self.right_answer(task, question)
            with self.lock:
                mistaken = self.rng.random() < self.error_rate
            if mistaken:
                changed = self.wrong_answer(question, answer)
                wrong += int(changed.choice != answer.choice)
                answer = changed
            answers.append(answer)
        return Answered(answers, wrong)

    def right_answer(self, task: ReviewTask, question: EventQuestion) -> EventAnswer:
        """What the truth says: the candidate's letter, else the number of the person present
        (the idealised reviewer recognises whoever reached among everyone shown)."""
        happened = self.truth.what_happened(question)
        nothing = EventAnswer(event_id=question.event_id, shopper=None, sku=None, qty=0)
        if happened is None or happened.sku not in {p.sku for p in question.products}:
            # Nothing moved, or the product is not among the choices: nothing to charge.
            return nothing
        labels = {
            self.truth_session(session): label
            for label, session in task.nameable(question.event_id).items()
        }
        # Each taker the question can name, within the units the question allows; the
        # first is the one whose change was closest to the event's end.
        named: list[tuple[str | None, int]] = []
        room = question.max_qty
        for session_id, qty in happened.takers:
            label = labels.get(session_id)
            units = min(qty, room)
            if label is None or units == 0:
                continue
            named.append((label, units))
            room -= units
        if not named:
            qty = min(happened.takers[0][1], question.max_qty)
            return EventAnswer(event_id=question.event_id, shopper=None, sku=happened.sku, qty=qty)
        (label, qty), others = named[0], named[1:]
        return EventAnswer(
            event_id=question.event_id,
            shopper=label,
            sku=happened.sku,
            qty=qty,
            also=[OtherTaker(shopper=x, qty=n) for x, n in others],
        )

    def explain(
        self, task: ReviewTask, answers: Sequence[EventAnswer]
    ) -> dict[str, dict[str, Any]]:
        """Per event, in the truth's session ids: whom the question showed, who really moved
        the item (None: nobody, or no true change there) and whom the answer named (None:
        "none of them" or nothing moved). For the run's analysis, not for scoring."""
        given = {a.event_id: a for a in answers}
        out: dict[str, dict[str, Any]] = {}
        for question in task.questions:
            happened = self.truth.what_happened(question)
            by_label = {
                label: self.truth_session(session)
                for label, session in task.nameable(question.event_id).items()
            }
            letters = {s.label for s in question.shoppers}
            answer = given.get(question.event_id)
            out[question.event_id] = {
                "shown": sorted(filter(None, (by_label[x] for x in letters))),
                "present": sorted(filter(None, (by_label[x] for x in question.present))),
                "truth": happened.session_id if happened else None,
                "truth_also": [t for t, _ in happened.takers[1:]] if happened else [],
                "answer": by_label.get(answer.shopper) if answer and answer.shopper else None,
                "answer_also": [by_label.get(o.shopper) for o in answer.also] if answer else [],
            }
        return out

    def wrong_answer(self, question: EventQuestion, right: EventAnswer) -> EventAnswer:
        with self.lock:
            others = [s.label for s in question.shoppers if s.label != right.shopper]
            if right.sku is not None and others:
                return right.model_copy(update={"shopper": self.rng.choice(others), "also": []})
            skus = [p.sku for p in question.products if p.sku != right.sku]
            if skus:
                shopper = right.shopper or question.shoppers[0].label
                qty = right.qty or 1
                return EventAnswer(
                    event_id=question.event_id, shopper=shopper, sku=self.rng.choice(skus), qty=qty
                )
            qty = right.qty + 1 if right.qty < question.max_qty else right.qty - 1
            return right.model_copy(update={"qty": qty})


@dataclass
class ReviewLog:
    """One line of `reviews.jsonl` per task, kept by whoever sees the task first."""

    lines: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def created(self, task: ReviewTask, backend: str, causes: Mapping[str, str]) -> None:
        with self.lock:
            self.lines.setdefault(
                task.task_id,
                {
                    "task_id": task.task_id,
                    "session_id": task.session_id,
                    "backend": backend,
                    "events": [
                        {"event_id": q.event_id, "cause": causes.get(q.event_id, "unknown")}
                        for q in task.questions
                    ],
                    "created_wall": time.time(),
                    "answered_wall": None,
                    "answers_wrong": 0,
                },
            )

    def answered(
        self, task_id: str, wrong: int, detail: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        with self.lock:
            line = self.lines.get(task_id)
            if line is not None:
                line["answered_wall"] = time.time()
                line["answers_wrong"] = wrong
                for event in line["events"]:
                    event.update(detail.get(event["event_id"], {}) if detail else {})

    def all(self) -> list[dict[str, Any]]:
        with self.lock:
            return sorted(self.lines.values(), key=lambda line: line["created_wall"])


def review_causes(sessions: SessionsTable, task: ReviewTask) -> dict[str, str]:
    """Why each event was asked about, from its attribution: `who` when the shopper was the
    weaker part of the decision, `what` when the product or quantity was."""
    records = {
        a.event_id: a
        for a in attributions_of(sessions, task.store_id, [q.event_id for q in task.questions])
    }
    causes = {}
    for q in task.questions:
        record = records.get(q.event_id)
        if record is None:
            causes[q.event_id] = "unknown"
        else:
            causes[q.event_id] = "who" if record.p_who <= record.p_what else "what"
    return causes


class WorkSignal:
    """Tells idle console reviewers that a task was queued: one notice per task, taken by
    one reviewer, so one of them looks at the queue for it while the others keep waiting.

    Every look at the queue is an index query that returns the waiting tasks (13-62 KB
    each) and every claim a conditional update; with reviewers polling on a timer, the
    looks that found nothing and the claims that lost a race to another reviewer took
    more of the local cloud's one core than the answers (`stadium-rush`: about a third of
    the process's CPU time). The tasks, their order and the calls that take and answer
    them are the same; only looks that could find nothing new are left out."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._notices = 0
        self._closed = False

    def notify(self) -> None:
        """A task was queued (the queue function returned)."""
        with self._ready:
            self._notices += 1
            self._ready.notify()

    def wait(self, timeout_s: float) -> bool:
        """Wait for a notice (True: one was taken) or until `timeout_s` or `close`."""
        with self._ready:
            if not self._notices and not self._closed:
                self._ready.wait(timeout_s)
            if self._notices:
                self._notices -= 1
                return True
            return False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Wake every waiting reviewer (they are stopping; until they are, they poll on
        the timer again)."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def reopen(self) -> None:
        """For reviewers started again (a restart): notices wake them again."""
        with self._ready:
            self._closed = False


class _Worker:
    """A thread that polls for tasks until stopped; with a `WorkSignal`, an idle one waits
    for a notice instead of polling on a timer."""

    def __init__(self, name: str, signal: WorkSignal | None = None) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.errors: list[str] = []
        self.signal = signal

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.signal is not None:
            self.signal.close()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        idle = POLL_S
        while not self._stop.is_set():
            try:
                worked = self.step()
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                worked = False
            if self.signal is not None and not self.signal.closed:
                # One look per task queued: after an answer too, look again only for a
                # notice not taken yet (or after the longest wait).
                self.signal.wait(SIGNALLED_IDLE_MAX_S)
            elif worked:
                idle = POLL_S
            else:
                # An idle reviewer looks less often (each look queries the task index).
                self._stop.wait(idle)
                idle = min(IDLE_POLL_MAX_S, 2 * idle)

    def step(self) -> bool:
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)


# moto's interpreter listens for heartbeats only once the `.waitForTaskToken` Lambda has
# returned; the review-queue function stores the task before that, so a simulated reviewer
# taking it at once can be told `InvalidToken` for a live token (Step Functions accepts a
# heartbeat as soon as the token exists). The local callbacks try again for a while. With
# hundreds of executions running in the one process, the interpreter's thread can take
# seconds to get there: with 3 s, a stadium-rush 223 run on 27 November closed one task
# whose workflow was waiting for it, and the sessions asking the same events waited for
# that workflow's claims until the end (about 150 looks each).
HEARTBEAT_RETRY_S = 30.0
HEARTBEAT_RETRY_EVERY_S = 0.1


class LocalTaskCallbacks(TaskCallbacks):
    """`TaskCallbacks` for the local runtime: a heartbeat refused as `InvalidToken` is tried
    again for up to HEARTBEAT_RETRY_S (see above); every other outcome is the same. A token
    still refused after that is noted in `refused` (the task will be closed unanswered: in
    a run whose workflows all wait for their reviews, something to see)."""

    def __init__(self, sfn: Any) -> None:
        super().__init__(sfn)
        self.refused: list[str] = []

    def heartbeat(self, token: str) -> bool:
        started = time.monotonic()
        while True:
            try:
                self.sfn.send_task_heartbeat(taskToken=token)
                return True
            except Exception as exc:
                code = error_code(exc)
                waited = time.monotonic() - started
                if code == "InvalidToken" and waited < HEARTBEAT_RETRY_S:
                    time.sleep(HEARTBEAT_RETRY_EVERY_S)
                    continue
                if code in CLOSED_TOKEN_CODES:
                    if code == "InvalidToken":
                        self.refused.append(
                            f"a task token was refused as InvalidToken for {waited:.0f} s:"
                            " its review task is closed unanswered"
                        )
                    return False
                raise


class ConsoleReviewer(_Worker):
    """Works the console queue as a reviewer using the review API would."""

    def __init__(
        self,
        *,
        tasks: ReviewTasksTable,
        sessions: SessionsTable,
        callbacks: LocalTaskCallbacks,
        retailers: Sequence[tuple[str, str]],  # (retailer_id, store_id)
        oracle: Oracle,
        log: ReviewLog,
        delay_s: float,
        reviewer_id: str = "sim-reviewer-1",
        signal: WorkSignal | None = None,
    ) -> None:
        super().__init__("console-reviewer", signal)
        self.tasks = tasks
        self.sessions = sessions
        # Its tokens refused past the retry window are in `callbacks.refused`.
        self.callbacks = callbacks
        self.console = ConsoleReview(tasks, callbacks)
        self.retailers = list(retailers)
        self.oracle = oracle
        self.log = log
        self.delay_s = delay_s
        self.reviewer_id = reviewer_id

    def step(self) -> bool:
        worked = False
        for retailer_id, store_id in self.retailers:
            view = self.console.next_task(retailer_id, self.reviewer_id, store_id)
            if view is None:
                continue
            stored = self.tasks.get(view.task_id)
            if stored is None:
                continue
            task = stored.task
            self.log.created(task, "console", review_causes(self.sessions, task))
            self.sleep(self.delay_s)
            answered = self.oracle.answer_task(task)
            self.console.answer_task(
                task.task_id,
                answered.answers,
                reviewer_id=self.reviewer_id,
                retailer_id=retailer_id,
            )
            self.log.answered(
                task.task_id, answered.wrong, self.oracle.explain(task, answered.answers)
            )
            worked = True
        return worked


class GroundTruthReviewer(_Worker):
    """A streaming labeling job with simulated workers (see the module doc)."""

    def __init__(
        self,
        *,
        client: Callable[[str], Any],
        sessions: SessionsTable,
        input_queue_url: str,
        output_topic_arn: str,
        bucket: str,
        pre_function: str,
        consolidate_function: str,
        job_name: str,
        workers: int,
        oracle: Oracle,
        log: ReviewLog,
        delay_s: float,
    ) -> None:
        super().__init__("groundtruth-reviewer")
        self.client = client
        self.sessions = sessions
        self.input_queue_url = input_queue_url
        self.output_topic_arn = output_topic_arn
        self.bucket = bucket
        self.pre_function = pre_function
        self.consolidate_function = consolidate_function
        self.job_name = job_name
        self.job_arn = f"arn:aws:sagemaker:local:000000000000:labeling-job/{job_name}"
        self.workers = workers
        self.oracle = oracle
        self.log = log
        self.delay_s = delay_s
        self.objects = 0

    def _invoke(self, function: str, event: Any) -> Any:
        response = self.client("lambda").invoke(
            FunctionName=function, Payload=json.dumps(event).encode()
        )
        payload = json.loads(response["Payload"].read())
        if "FunctionError" in response:
            raise RuntimeError(f"{function} failed: {payload}")
        return payload

    def step(self) -> bool:
        sqs = self.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.input_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        for message in messages:
            self.label(json.loads(message["Body"]))
            sqs.delete_message(
                QueueUrl=self.input_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        return bool(messages)

    def label(self, line: dict[str, Any]) -> None:
        """One data object through the job: pre-annotation, workers, consolidation, output."""
        task, _ = task_of(line)
        self.log.created(task, "groundtruth", review_causes(self.sessions, task))
        pre = self._invoke(
            self.pre_function,
            {"version": GT_PROTOCOL_VERSION, "labelingJobArn": self.job_arn, "dataObject": line},
        )
        if str(pre.get("isHumanAnnotationRequired")) != "true":
            return
        self.sleep(self.delay_s)
        self.objects += 1
        object_id = str(self.objects)
        annotations = []
        for n in range(self.workers):
            answered = self.oracle.answer_task(task)
            form = {
                ANSWERS_FIELD: json.dumps([a.model_dump(mode="json") for a in answered.answers])
            }
            annotations.append(
                {
                    "workerId": f"private.local.sim-worker-{n + 1}",
                    "annotationData": {"content": json.dumps(form)},
                }
            )
        request_dir = f"output/{self.job_name}/annotations/consolidation-request/iteration-1"
        key = f"{request_dir}/{task.task_id}.json"
        payload = [{"datasetObjectId": object_id, "dataObject": line, "annotations": annotations}]
        self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=json.dumps(payload).encode())
        consolidated = self._invoke(
            self.consolidate_function,
            {
                "version": GT_PROTOCOL_VERSION,
                "labelingJobArn": self.job_arn,
                "labelCategories": None,
                "labelAttributeName": LABEL_ATTRIBUTE,
                "roleArn": "arn:aws:iam::000000000000:role/local-groundtruth",
                "payload": {"s3Uri": f"s3://{self.bucket}/{key}"},
                "outputConfig": f"s3://{self.bucket}/output/",
            },
        )
        content = consolidated[0]["consolidatedAnnotation"]["content"]
        output_line = {
            **line,
            LABEL_ATTRIBUTE: content[LABEL_ATTRIBUTE],
            f"{LABEL_ATTRIBUTE}-metadata": {
                "type": "groundtruth/custom",
                "job-name": self.job_name,
                "human-annotated": "yes",
                "creation-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"),
            },
        }
        self.client("sns").publish(TopicArn=self.output_topic_arn, Message=json.dumps(output_line))
        # Wrong answers: events where the consolidated (majority) answer is not the truth's.
        right = {q.event_id: self.oracle.right_answer(task, q).choice for q in task.questions}
        given = [EventAnswer.model_validate(a) for a in content[LABEL_ATTRIBUTE]["answers"]]
        wrong = sum(1 for a in given if not a.resolved or a.choice != right.get(a.event_id))
        self.log.answered(task.task_id, wrong, self.oracle.explain(task, given))
