"""Errors as RFC 9457 problem documents (`application/problem+json`).

Domain and service code raise `ApiProblemError` subclasses; the resolver turns them, request
validation errors, bad cursors and auth failures into one shape with a clear `detail`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from aws_lambda_powertools.event_handler import Response

PROBLEM_JSON: Final = "application/problem+json"


class ApiProblemError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ResourceNotFoundError(ApiProblemError):
    status = 404
    title = "Not found"


class ConflictError(ApiProblemError):
    status = 409
    title = "ConflictError"


class UnprocessableError(ApiProblemError):
    status = 422
    title = "Invalid request"


def problem(status: int, title: str, detail: str, **extra: Any) -> Response[str]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body))


def error_location(loc: Sequence[Any]) -> str:
    # Powertools prefixes where the value came from ("body", "query", "path"); keep it.
    return ".".join(str(part) for part in loc) or "request"


def _message(error: Mapping[str, Any]) -> str:
    msg = str(error.get("msg", "invalid"))
    ctx = error.get("ctx")
    # Powertools' JSON decode error keeps what was wrong in `ctx`; say it.
    if error.get("type") == "json_invalid" and isinstance(ctx, Mapping) and ctx.get("error"):
        msg = f"{msg}: {ctx['error']}"
    return msg


def describe_errors(errors: Iterable[Mapping[str, Any]], limit: int = 5) -> tuple[str, list[Any]]:
    """One readable line for the first errors, and the list for clients that want them all."""
    listed = [{"loc": error_location(e.get("loc", ())), "msg": _message(e)} for e in errors]
    text = "; ".join(f"{e['loc']}: {e['msg']}" for e in listed[:limit])
    if len(listed) > limit:
        text += f"; and {len(listed) - limit} more"
    return text or "the request is invalid", listed
