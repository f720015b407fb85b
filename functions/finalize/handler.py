"""The finalize workflow's Lambda steps (one code asset, one function per step, each with its
own role): `assess`, `issue_receipt`, `mark_attention`. Thin: parse, call
`walkout.finalize.service`, return what the state machine keeps."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from walkout.finalize.messages import AttentionInput, IssueInput, SessionKey
from walkout.finalize.service import Assessor, AttentionMarker, ReceiptIssuer
from walkout.finalize.settings import AssessSettings, AttentionSettings, IssueSettings
from walkout.observability import logger, metrics, set_stage, tracer
from walkout.settings import get_settings, init_environment

_assessor: Assessor | None = None
_issuer: ReceiptIssuer | None = None
_marker: AttentionMarker | None = None


def assessor() -> Assessor:
    global _assessor  # noqa: PLW0603 - one per container, reused across invocations
    if _assessor is None:
        settings = get_settings(AssessSettings)
        set_stage(settings.stage)
        _assessor = Assessor.from_settings(settings)
    return _assessor


def issuer() -> ReceiptIssuer:
    global _issuer  # noqa: PLW0603 - one per container
    if _issuer is None:
        settings = get_settings(IssueSettings)
        set_stage(settings.stage)
        _issuer = ReceiptIssuer.from_settings(settings)
    return _issuer


def marker() -> AttentionMarker:
    global _marker  # noqa: PLW0603 - one per container
    if _marker is None:
        settings = get_settings(AttentionSettings)
        set_stage(settings.stage)
        _marker = AttentionMarker.from_settings(settings)
    return _marker


@init_environment(AssessSettings)
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def assess(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    output = assessor().assess(SessionKey.model_validate(event))
    return output.model_dump(mode="json", by_alias=True)


@init_environment(IssueSettings)
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def issue_receipt(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    output = issuer().issue(IssueInput.model_validate(event))
    return output.model_dump(mode="json", by_alias=True)


@init_environment(AttentionSettings)
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def mark_attention(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    flagged = marker().mark(AttentionInput.model_validate(event))
    return {"flagged": flagged}
