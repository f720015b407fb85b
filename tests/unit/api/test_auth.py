"""Parsing a caller from HTTP API JWT authorizer claims."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walkout.api.auth import (
    Caller,
    ForbiddenError,
    Role,
    UnauthenticatedError,
    caller_from_claims,
)


def claims(**extra: str) -> dict[str, str]:
    return {"sub": "u-1", "custom:retailer_id": "retailer-a", **extra}


@pytest.mark.parametrize(
    ("groups", "roles"),
    [
        ("[retailer-admins]", {Role.ADMIN}),
        ("[reviewers]", {Role.REVIEWER}),
        ("[retailer-admins reviewers]", {Role.ADMIN, Role.REVIEWER}),
        ('["retailer-admins","reviewers"]', {Role.ADMIN, Role.REVIEWER}),
    ],
)
def test_groups_as_http_api_flattens_them_become_roles(groups: str, roles: set[Role]) -> None:
    caller = caller_from_claims(claims(**{"cognito:groups": groups}))
    assert caller.roles == roles
    assert caller.retailer_id == "retailer-a"


def test_groups_as_a_real_list_are_accepted() -> None:
    raw = {**claims(), "cognito:groups": ["reviewers", "something-else"]}
    assert caller_from_claims(raw).roles == {Role.REVIEWER}


def test_a_token_without_staff_groups_is_a_shopper_limited_to_its_sessions() -> None:
    caller = caller_from_claims(claims(**{"custom:session_ids": "s-1 s-2"}))
    assert caller.roles == {Role.SHOPPER}
    assert caller.session_ids == {"s-1", "s-2"}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (None, "no verified token"),
        ({}, "no verified token"),
        ({"custom:retailer_id": "r"}, "sub"),
        ({"sub": "u"}, "custom:retailer_id"),
        ({"sub": "u", "custom:retailer_id": "RETAILER#x"}, "custom:retailer_id"),
        ({"sub": "u", "custom:retailer_id": "r"}, "custom:session_ids"),
        ({"sub": "u", "custom:retailer_id": "r", "custom:session_ids": "a/b"}, "session"),
    ],
)
def test_claims_that_name_no_caller_are_refused(raw: dict[str, str] | None, fragment: str) -> None:
    with pytest.raises(UnauthenticatedError, match=fragment):
        caller_from_claims(raw)


def test_require_refuses_a_role_that_may_not_use_a_route() -> None:
    shopper = Caller("u", "r", frozenset({Role.SHOPPER}), frozenset({"s"}))
    with pytest.raises(ForbiddenError, match="admin"):
        shopper.require(Role.ADMIN)
    assert shopper.require(Role.SHOPPER) is shopper


@given(st.text(max_size=80))
def test_any_retailer_claim_either_parses_to_a_key_safe_id_or_is_refused(retailer: str) -> None:
    raw = {"sub": "u", "custom:retailer_id": retailer, "cognito:groups": "[reviewers]"}
    try:
        caller = caller_from_claims(raw)
    except UnauthenticatedError:
        return
    assert "#" not in caller.retailer_id
    assert "/" not in caller.retailer_id
    assert caller.retailer_id == retailer
