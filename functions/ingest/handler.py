"""Ingest Lambda: Kinesis records -> sessions, live carts and attribution records.

Thin by design: KPL deaggregation, Powertools' batch processor for partial failures, and
`walkout.ingest.service` for everything else (rules and writes live there).
"""

from __future__ import annotations

from typing import Any

from aws_kinesis_agg.deaggregator import deaggregate_records
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from walkout.ingest.service import IngestBatch, IngestService, StreamRecord
from walkout.observability import logger, metrics, set_stage, tracer
from walkout.settings import IngestSettings, get_settings, init_environment

processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
_service: IngestService | None = None


def service() -> IngestService:
    """The service, built on the first invocation (after the environment was validated)."""
    global _service  # noqa: PLW0603 - one per container, reused across invocations
    if _service is None:
        settings = get_settings(IngestSettings)
        set_stage(settings.stage)
        _service = IngestService.from_settings(settings)
    return _service


def stream_record(raw: dict[str, Any]) -> StreamRecord:
    kinesis = KinesisStreamRecord(raw).kinesis
    return StreamRecord(
        partition_key=kinesis.partition_key,
        sequence_number=kinesis.sequence_number,
        sub_sequence_number=raw["kinesis"].get("subSequenceNumber"),
        data=kinesis.data_as_bytes(),
    )


@init_environment(IngestSettings)
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = deaggregate_records(event["Records"])
    batch: IngestBatch = service().start_batch([stream_record(r) for r in records])

    def record_handler(record: KinesisStreamRecord) -> str:
        return batch.handle(stream_record(record.raw_event))

    try:
        return process_partial_response(
            event={"Records": records},
            record_handler=record_handler,
            processor=processor,
            context=context,
        )
    finally:
        batch.finish()
