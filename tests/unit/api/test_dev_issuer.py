"""The local development issuer: tokens it signs verify; anything else does not."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from localcloud.dev_issuer import DevIssuer, TokenError, authorizer_claims
from walkout.api.auth import Role, caller_from_claims


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    return DevIssuer.load_or_create(Path(tmp_path_factory.mktemp("issuer")))


def test_the_key_is_created_once_and_reused(tmp_path: Path) -> None:
    first = DevIssuer.load_or_create(tmp_path)
    token = first.issue(retailer_id="r", groups=["reviewers"])

    again = DevIssuer.load_or_create(tmp_path)

    assert again.verify(token)["custom:retailer_id"] == "r"
    assert (tmp_path / "dev-issuer-key.pem").stat().st_mode & 0o077 == 0


def test_a_shopper_token_becomes_a_shopper_caller(issuer: DevIssuer) -> None:
    token = issuer.issue(retailer_id="r", session_ids=["s-1"])
    caller = caller_from_claims(authorizer_claims(issuer.verify(token)))
    assert caller.roles == {Role.SHOPPER}
    assert caller.session_ids == {"s-1"}


def test_groups_are_flattened_as_api_gateway_does() -> None:
    assert authorizer_claims({"cognito:groups": ["a", "b"], "exp": 5}) == {
        "cognito:groups": "[a b]",
        "exp": "5",
    }


def test_a_tampered_payload_does_not_verify(issuer: DevIssuer) -> None:
    header, _, signature = issuer.issue(retailer_id="r", groups=["reviewers"]).split(".")
    forged = (
        base64.urlsafe_b64encode(
            json.dumps(
                {"custom:retailer_id": "other", "cognito:groups": ["retailer-admins"]}
            ).encode()
        )
        .decode()
        .rstrip("=")
    )
    with pytest.raises(TokenError, match="signature"):
        issuer.verify(f"{header}.{forged}.{signature}")


def test_alg_none_is_refused(issuer: DevIssuer) -> None:
    _, payload, _ = issuer.issue(retailer_id="r", groups=["reviewers"]).split(".")
    none = base64.urlsafe_b64encode(b'{"alg":"none"}').decode().rstrip("=")
    with pytest.raises(TokenError, match="RS256"):
        issuer.verify(f"{none}.{payload}.")


def test_an_expired_token_is_refused(issuer: DevIssuer) -> None:
    token = issuer.issue(retailer_id="r", groups=["reviewers"], ttl_s=1)
    later = DevIssuer(issuer.private_key, clock=lambda: issuer.clock() + 3600)
    with pytest.raises(TokenError, match="expired"):
        later.verify(token)


def test_a_token_of_another_key_is_refused(issuer: DevIssuer, tmp_path: Path) -> None:
    stranger = DevIssuer.load_or_create(tmp_path)
    with pytest.raises(TokenError, match="signature"):
        issuer.verify(stranger.issue(retailer_id="r", groups=["reviewers"]))


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "!!.??.**"])
def test_garbage_is_a_token_error(issuer: DevIssuer, garbage: str) -> None:
    with pytest.raises(TokenError):
        issuer.verify(garbage)
