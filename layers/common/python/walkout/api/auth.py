"""Who is calling: a `Caller` parsed from the HTTP API's JWT authorizer claims.

API Gateway (payload v2) puts the verified token's claims under
`requestContext.authorizer.jwt.claims`. Cognito writes the tenant into the custom attribute
`custom:retailer_id` and the roles into `cognito:groups`; a shopper's token names the
sessions it may see in `custom:session_ids` (space-separated; Cognito custom attributes are
strings). HTTP API flattens array claims into a string such as "[retailer-admins reviewers]",
so both that form and a real list are accepted.

Tenancy is decided here and nowhere else: routes take a `Caller` and scope every key by
`caller.retailer_id`; a resource of another retailer is simply not found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

RETAILER_CLAIM: Final = "custom:retailer_id"
SESSIONS_CLAIM: Final = "custom:session_ids"
GROUPS_CLAIM: Final = "cognito:groups"
ADMIN_GROUP: Final = "retailer-admins"
REVIEWER_GROUP: Final = "reviewers"
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class Role(StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"
    SHOPPER = "shopper"


class UnauthenticatedError(Exception):
    """No usable identity in the request (401): missing or malformed claims."""


class ForbiddenError(Exception):
    """The caller's role may not use this route (403). Raised before any data is read, so
    it says nothing about whether a resource exists."""


@dataclass(frozen=True)
class Caller:
    subject: str
    retailer_id: str
    roles: frozenset[Role]
    session_ids: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    def require(self, *allowed: Role) -> Caller:
        if not self.roles.intersection(allowed):
            names = " or ".join(r.value for r in allowed)
            raise ForbiddenError(f"this route needs the {names} role")
        return self


def _groups(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, list):
        return [str(g) for g in raw]
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        return [g.strip().strip('"') for g in re.split(r"[\s,]+", text) if g.strip()]
    raise UnauthenticatedError(f"{GROUPS_CLAIM}: expected a list of group names")


def caller_from_claims(claims: Mapping[str, Any] | None) -> Caller:
    """The caller named by verified JWT claims; `UnauthenticatedError` when they do not name one."""
    if not claims:
        raise UnauthenticatedError("no verified token claims on the request")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise UnauthenticatedError("token has no subject (sub)")
    retailer = claims.get(RETAILER_CLAIM)
    if not isinstance(retailer, str) or not _IDENTIFIER.match(retailer):
        raise UnauthenticatedError(f"token has no valid {RETAILER_CLAIM} claim")
    groups = set(_groups(claims.get(GROUPS_CLAIM)))
    roles: set[Role] = set()
    if ADMIN_GROUP in groups:
        roles.add(Role.ADMIN)
    if REVIEWER_GROUP in groups:
        roles.add(Role.REVIEWER)
    sessions_raw = claims.get(SESSIONS_CLAIM)
    sessions: frozenset[str] = frozenset()
    if not roles:
        # A token of no staff group is a shopper's: it must name the sessions it may see.
        if not isinstance(sessions_raw, str) or not sessions_raw.split():
            raise UnauthenticatedError(f"a shopper token needs the {SESSIONS_CLAIM} claim")
        sessions = frozenset(sessions_raw.split())
        if not all(_IDENTIFIER.match(s) for s in sessions):
            raise UnauthenticatedError(f"{SESSIONS_CLAIM}: not a list of session ids")
        roles.add(Role.SHOPPER)
    return Caller(
        subject=subject, retailer_id=retailer, roles=frozenset(roles), session_ids=sessions
    )
