"""Ground Truth's side of the review: the streaming labeling job, its worker template in
S3, and the annotation payloads Ground Truth writes to S3 for consolidation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from walkout.data.dynamo import error_code, error_response


def _code(exc: Exception) -> str:
    return error_code(exc) or ""


def _message(exc: Exception) -> str:
    return str(error_response(exc).get("Error", {}).get("Message", ""))


def split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


class LabelingJobs:
    def __init__(self, sagemaker: Any, s3: Any) -> None:
        self.sagemaker = sagemaker
        self.s3 = s3

    def put_template(self, uri: str, text: str) -> None:
        bucket, key = split_s3_uri(uri)
        self.s3.put_object(
            Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType="text/html"
        )

    def create(self, request: Mapping[str, Any]) -> str:
        """Create the job; a job of that name created before (a retried request) is taken
        as created. Returns its ARN."""
        try:
            response = self.sagemaker.create_labeling_job(**request)
        except Exception as exc:
            if _code(exc) != "ResourceInUse":
                raise
            described = self.sagemaker.describe_labeling_job(
                LabelingJobName=request["LabelingJobName"]
            )
            return str(described["LabelingJobArn"])
        return str(response["LabelingJobArn"])

    def stop(self, name: str) -> bool:
        """Stop the job; False when it is gone or already stopped."""
        try:
            self.sagemaker.stop_labeling_job(LabelingJobName=name)
        except Exception as exc:
            code, message = _code(exc), _message(exc).lower()
            if code == "ResourceNotFound" or (
                code == "ValidationException" and ("stop" in message or "complet" in message)
            ):
                return False
            raise
        return True


class AnnotationPayloads:
    """The file Ground Truth hands the consolidation Lambda (a JSON list)."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def read(self, uri: str) -> list[Any]:
        bucket, key = split_s3_uri(uri)
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        payload = json.loads(body)
        if not isinstance(payload, list):
            raise ValueError(f"{uri}: the annotation payload is not a JSON list")
        return payload
