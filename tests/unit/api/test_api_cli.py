"""`walkout openapi export|check` and `walkout token`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localcloud.dev_issuer import DevIssuer
from walkout_cli.main import main
from walkout_cli.openapi import DEFAULT_PATH, generated_document


def test_the_committed_openapi_document_matches_the_code() -> None:
    assert DEFAULT_PATH.read_text(encoding="utf-8") == generated_document()


def test_the_document_is_openapi_3_1_with_bearer_auth_and_problem_errors() -> None:
    doc = json.loads(generated_document())
    assert doc["openapi"] == "3.1.0"
    assert "bearer" in doc["components"]["securitySchemes"]
    assert "/stores/{store_id}/products/{sku}" in doc["paths"]


def test_check_fails_on_drift_and_export_repairs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "openapi.json"
    path.write_text("{}\n", encoding="utf-8")

    drifted = main(["openapi", "check", "--path", str(path)])
    exported = main(["openapi", "export", "--path", str(path)])
    checked = main(["openapi", "check", "--path", str(path)])

    assert (drifted, exported, checked) == (2, 0, 0)
    assert "out of date" in capsys.readouterr().err


def test_token_prints_a_token_the_local_issuer_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WALKOUT_STATE_DIR", str(tmp_path))

    code = main(["token", "--retailer", "r-1", "--role", "shopper", "--session", "s-9"])

    token = capsys.readouterr().out.strip()
    assert code == 0
    claims = DevIssuer.load_or_create(tmp_path).verify(token)
    assert claims["custom:retailer_id"] == "r-1"
    assert claims["custom:session_ids"] == "s-9"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--role", "shopper"], "needs at least one --session"),
        (["--role", "admin", "--session", "s"], "only for --role shopper"),
        (["--role", "admin", "--retailer", "a#b"], "not an identifier"),
    ],
)
def test_token_refuses_bad_options_in_one_line(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WALKOUT_STATE_DIR", str(tmp_path))
    args = ["token", "--retailer", "r", *argv] if "--retailer" not in argv else ["token", *argv]
    assert main(args) == 2
    assert message in capsys.readouterr().err
