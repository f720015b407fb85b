"""Route parameters and documented responses shared by every group of routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import AwareDatetime, BaseModel

from walkout.api.auth import Role
from walkout.api.cursor import MAX_CURSOR_CHARS
from walkout.api.models import ProblemOut
from walkout.api.problems import PROBLEM_JSON, UnprocessableError
from walkout.data.dynamo import utc_clock

ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
StoreId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
Sku = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
PromotionId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
SessionId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
DisputeId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
TaskId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=100, description="page size")]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_CHARS, description="`next_cursor` of the previous page")
]
From = Annotated[
    AwareDatetime | None,
    Query(alias="from", description="start of the range (ISO 8601 with a UTC offset)"),
]
To = Annotated[
    AwareDatetime | None,
    Query(alias="to", description="end of the range (ISO 8601 with a UTC offset)"),
]
READERS: Final = (Role.ADMIN, Role.REVIEWER)
PROBLEMS: Final = {
    400: "Bad request (e.g. a cursor this API did not issue)",
    401: "No valid token",
    403: "The caller's role may not use this route",
    404: "No such resource for this caller (another tenant's resource is not found either)",
    409: "Conflicts with the store's current state, or changed concurrently",
    422: "The request failed validation; `detail` names the field",
}


def responses(
    success: int,
    description: str = "Success",
    *,
    or_created: bool = False,
    or_no_content: str | None = None,
    extra: dict[int, str] | None = None,
    success_model: type[BaseModel] | None = None,
) -> dict[int, OpenAPIResponse]:
    """The documented responses of a route: its success code (schema from the return
    annotation, or `success_model` when the annotation also allows no body) and every
    problem it may answer with."""
    documented: dict[int, OpenAPIResponse] = {success: {"description": description}}
    if success_model is not None:
        documented[success] = {
            "description": description,
            "content": {"application/json": {"model": success_model}},
        }
    if success == 204:
        documented[success] = {"description": description, "content": {}}
    if or_created:
        documented[201] = {"description": "Created"}
    if or_no_content:
        documented[204] = {"description": or_no_content, "content": {}}
    for status, text in {**PROBLEMS, **(extra or {})}.items():
        documented[status] = {
            "description": text,
            "content": {PROBLEM_JSON: {"model": ProblemOut}},
        }
    return documented


def json_response(status: int, body: Any) -> Response[Any]:
    return Response(status_code=status, content_type="application/json", body=body)


def as_range(
    since: datetime | None, until: datetime | None, default_span_s: float
) -> tuple[datetime, datetime]:
    """A closed time range from optional ends: `to` defaults to now, `from` to
    `default_span_s` before `to`."""
    end = until or utc_clock()
    start = since or datetime.fromtimestamp(end.timestamp() - default_span_s, tz=end.tzinfo)
    if start > end:
        # DynamoDB refuses a BETWEEN whose lower bound exceeds the upper one (a 500).
        raise UnprocessableError(
            "query.to: must be after query.from" + ("" if until else " (to defaults to now)")
        )
    return start, end
