"""cdk-nag's AwsSolutions pack: no findings, and every suppression is a known, reasoned one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import App, Aspects, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks

NAG_FINDING = Match.string_like_regexp(r"^AwsSolutions-")

# (logical id prefix, rule): adding one is a decision, so it is listed here too.
# (construct prefix of the logical id, rule): every suppression in the stack, each with a
# reason in the construct that adds it. A new one must be argued there and listed here.
EXPECTED_SUPPRESSIONS = {
    ("EventsStream", "AwsSolutions-KDS3"),
    ("EdgeAccess", "AwsSolutions-IAM5"),
    ("Finalize", "AwsSolutions-IAM5"),
    ("Finalize", "AwsSolutions-L1"),
    ("Review", "AwsSolutions-IAM5"),
    ("Review", "AwsSolutions-L1"),
    ("Ingest", "AwsSolutions-IAM5"),
    ("Ingest", "AwsSolutions-L1"),
    ("Ingest", "AwsSolutions-SQS3"),
    ("Http", "AwsSolutions-APIG4"),
    ("Http", "AwsSolutions-COG2"),
    ("Http", "AwsSolutions-COG3"),
    ("Http", "AwsSolutions-COG8"),
    ("Http", "AwsSolutions-IAM5"),
    ("Http", "AwsSolutions-L1"),
}


def _findings(stack: Stack) -> tuple[list[Any], list[Any]]:
    annotations = Annotations.from_stack(stack)
    return annotations.find_error("*", NAG_FINDING), annotations.find_warning("*", NAG_FINDING)


def test_no_nag_errors(synthesized: Any) -> None:
    errors, _ = _findings(synthesized.stack)

    assert errors == []


def test_no_unsuppressed_nag_warnings(synthesized: Any) -> None:
    _, warnings = _findings(synthesized.stack)

    assert warnings == []


def test_a_nag_error_fails_the_synthesis(cdk_context: Callable[..., dict[str, Any]]) -> None:
    # With cdk.json's flags, nag errors go into the validation report and abort the synth,
    # so `make synth` cannot write a template that nag rejects.
    app = App(context=cdk_context())
    s3.Bucket(Stack(app, "Probe"), "Careless", enforce_ssl=False)
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))

    with pytest.raises(RuntimeError, match=r"AwsSolutions-S10"):
        app.synth()


def test_suppressions_are_the_expected_ones_and_carry_reasons(synthesized: Any) -> None:
    found = set()
    for logical_id, resource in synthesized.template.to_json()["Resources"].items():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            assert len(rule["reason"]) >= 80, f"{logical_id} {rule['id']}: reason too thin"
            known = (p for p, _ in EXPECTED_SUPPRESSIONS if logical_id.startswith(p))
            found.add((next(known, logical_id), rule["id"]))

    assert found == EXPECTED_SUPPRESSIONS
