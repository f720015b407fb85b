"""The worker task template (Liquid with crowd-html-elements), shipped in this package so
that the stack, the labeling-job custom resource and the tests all read the same file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

TEMPLATE_PATH: Final = Path(__file__).resolve().parent / "templates" / "review_task.liquid.html"


def template_text() -> str:
    return TEMPLATE_PATH.read_text(encoding="utf-8")


def template_sha256(text: str | None = None) -> str:
    body = template_text() if text is None else text
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def template_key(sha256: str) -> str:
    """Its S3 key: content-addressed, so a changed template is a new object (and a new job)."""
    return f"templates/review-task-{sha256[:16]}.liquid.html"
