"""One CloudWatch dashboard per deployment: is ingest keeping up, what is it seeing, and how
often would a human have to look.

Widgets: ingest lag (the stream's iterator age and the age of events when processed),
events per type, quarantined / duplicate / late events, sessions opened and ready, the
predicted review rate per 1,000 sessions (sessions whose receipt confidence was below the
review threshold when they became ready) with the uncertain shelf events, DynamoDB write
items per event, the function's health, the failure queue, the ingest alarms, devices
gone silent (stale devices, which readiness no longer waits for), and joins and exits held
until their session opened (the ingest table's PENDING# items) and applied. Metric names
and dimensions come from `walkout.observability`, the same module the functions write them
with.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infrastructure.ingest import IngestPipeline, walkout_metric
from walkout.config import DeploymentConfig
from walkout.events import EVENT_TYPES
from walkout.observability import EVENT_TYPE_DIMENSION, MetricName

PERIOD = Duration.minutes(5)
WIDTH = 8
HEIGHT = 6


class WalkoutDashboard(Construct):
    """`dashboard`: the deployment's operational view."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        ingest: IngestPipeline,
    ) -> None:
        super().__init__(scope, construct_id)

        def metric(
            name: str, statistic: str = "Sum", label: str | None = None
        ) -> cloudwatch.Metric:
            return walkout_metric(config, name, statistic=statistic, period=PERIOD, label=label)

        function = ingest.function
        lag = cloudwatch.GraphWidget(
            title="Ingest lag",
            left=[
                function.metric(
                    "IteratorAge", statistic="Maximum", period=PERIOD, label="iterator age (ms)"
                ),
                metric(MetricName.EVENT_AGE, "Maximum", "event age when processed (ms)"),
            ],
            left_annotations=[
                cloudwatch.HorizontalAnnotation(
                    value=config.ingest.iterator_age_alarm_s * 1000, label="alarm"
                )
            ],
            width=WIDTH,
            height=HEIGHT,
        )
        per_type = cloudwatch.GraphWidget(
            title="Events per type",
            left=[
                walkout_metric(
                    config,
                    MetricName.EVENTS,
                    period=PERIOD,
                    extra={EVENT_TYPE_DIMENSION: event_type},
                    label=event_type,
                )
                for event_type in EVENT_TYPES
            ],
            stacked=True,
            width=WIDTH,
            height=HEIGHT,
        )
        problems = cloudwatch.GraphWidget(
            title="Quarantined, duplicate and late events",
            left=[
                metric(MetricName.QUARANTINED, label="quarantined"),
                metric(MetricName.DUPLICATES, label="duplicates (harmless)"),
                metric(MetricName.LATE_EVENTS, label="late shelf events"),
            ],
            width=WIDTH,
            height=HEIGHT,
        )
        sessions = cloudwatch.GraphWidget(
            title="Sessions opened and ready",
            left=[
                metric(MetricName.SESSIONS_OPENED, label="opened"),
                metric(MetricName.SESSIONS_READY, label="ready (handed to finalize)"),
            ],
            width=WIDTH,
            height=HEIGHT,
        )
        review_rate = cloudwatch.GraphWidget(
            title="Review rate (per 1,000 sessions, predicted at hand-over)",
            left=[
                cloudwatch.MathExpression(
                    expression="IF(ready > 0, 1000 * below / ready, 0)",
                    using_metrics={
                        "below": metric(MetricName.SESSIONS_BELOW_THRESHOLD),
                        "ready": metric(MetricName.SESSIONS_READY),
                    },
                    label="sessions below the review threshold per 1,000",
                    period=PERIOD,
                )
            ],
            right=[metric(MetricName.UNCERTAIN_EVENTS, label="uncertain shelf events")],
            width=WIDTH,
            height=HEIGHT,
        )
        writes = cloudwatch.GraphWidget(
            title="DynamoDB write items per event",
            left=[
                cloudwatch.MathExpression(
                    expression="IF(events > 0, writes / events, 0)",
                    using_metrics={
                        "writes": metric(MetricName.DYNAMODB_WRITES),
                        "events": cloudwatch.MathExpression(
                            expression=" + ".join(
                                f"FILL(e{i}, 0)" for i in range(len(EVENT_TYPES))
                            ),
                            using_metrics={
                                f"e{i}": walkout_metric(
                                    config,
                                    MetricName.EVENTS,
                                    period=PERIOD,
                                    extra={EVENT_TYPE_DIMENSION: t},
                                )
                                for i, t in enumerate(EVENT_TYPES)
                            },
                            period=PERIOD,
                        ),
                    },
                    label="write items per event",
                    period=PERIOD,
                )
            ],
            width=WIDTH,
            height=HEIGHT,
        )
        stale = cloudwatch.GraphWidget(
            title="Stale devices (no longer holding back readiness)",
            left=[
                metric(
                    MetricName.STALE_DEVICES,
                    "Maximum",
                    f"devices silent > {config.device_stale_after_s:g} s (most in one check)",
                )
            ],
            left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
            width=WIDTH,
            height=HEIGHT,
        )
        held = cloudwatch.GraphWidget(
            title="Joins and exits held until their session opened",
            left=[
                metric(MetricName.HELD_EVENTS, label="held (came before their entry)"),
                metric(MetricName.HELD_EVENTS_APPLIED, label="applied once the session opened"),
            ],
            left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
            width=WIDTH,
            height=HEIGHT,
        )
        health = cloudwatch.GraphWidget(
            title="Ingest function",
            left=[
                function.metric_invocations(period=PERIOD),
                function.metric_errors(period=PERIOD),
                function.metric_throttles(period=PERIOD),
            ],
            right=[function.metric_duration(period=PERIOD, statistic="p95")],
            width=WIDTH,
            height=HEIGHT,
        )
        given_up = cloudwatch.SingleValueWidget(
            title="Batches given up on (failure queue)",
            metrics=[
                ingest.failure_queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum"
                )
            ],
            width=WIDTH,
            height=HEIGHT,
        )
        alarms = cloudwatch.AlarmStatusWidget(
            title="Ingest alarms", alarms=list(ingest.alarms), width=WIDTH, height=HEIGHT
        )
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{config.prefix}-operations",
            default_interval=Duration.hours(3),
            widgets=[
                [lag, per_type, problems],
                [sessions, review_rate, writes],
                [health, given_up, alarms],
                [stale, held],
            ],
        )
