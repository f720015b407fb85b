"""`walkout schema export|check`: deterministic files, and drift that CI can see."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from walkout.events import event_to_dict, parse_event
from walkout_cli.main import main
from walkout_cli.schema import SCHEMAS

REPO = Path(__file__).resolve().parents[2]
NAMES = sorted(SCHEMAS)


def export(out: Path) -> None:
    assert main(["schema", "export", "--out", str(out)]) == 0


def test_export_writes_the_event_store_and_receipt_schemas(tmp_path: Path) -> None:
    export(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "walkout.event-1.schema.json",
        "walkout.receipt-1.schema.json",
        "walkout.store-1.schema.json",
    ]


def test_export_is_deterministic_sorted_and_ends_with_a_newline(tmp_path: Path) -> None:
    # Given two exports
    export(tmp_path / "a")
    export(tmp_path / "b")
    for name in NAMES:
        text = (tmp_path / "a" / name).read_text(encoding="utf-8")
        # Then they are identical, with sorted keys and one trailing newline
        assert text == (tmp_path / "b" / name).read_text(encoding="utf-8")
        assert text.endswith("}\n") and not text.endswith("\n\n")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_check_passes_right_after_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export(tmp_path)
    assert main(["schema", "check", "--dir", str(tmp_path)]) == 0
    assert "match the models" in capsys.readouterr().out


def test_check_names_a_modified_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given exported schemas, one of them edited by hand
    export(tmp_path)
    target = tmp_path / "walkout.event-1.schema.json"
    schema = json.loads(target.read_text(encoding="utf-8"))
    schema["title"] = "hand edited"
    target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    capsys.readouterr()
    # When the check runs
    code = main(["schema", "check", "--dir", str(tmp_path)])
    # Then it fails with one line naming that file and only that file
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1
    assert "walkout.event-1.schema.json differs from the models" in err
    assert "walkout.store-1.schema.json" not in err


def test_check_names_missing_and_stale_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an export with one file deleted and one left over from an older model
    export(tmp_path)
    (tmp_path / "walkout.receipt-1.schema.json").unlink()
    (tmp_path / "walkout.cart-0.schema.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("not ours\n", encoding="utf-8")
    capsys.readouterr()
    # When the check runs
    code = main(["schema", "check", "--dir", str(tmp_path)])
    # Then both are named, and files the command does not own are ignored
    err = capsys.readouterr().err
    assert code != 0
    assert "walkout.receipt-1.schema.json is missing" in err
    assert "walkout.cart-0.schema.json is no longer produced" in err
    assert "README.md" not in err
    # And a new export repairs the directory without touching the foreign file
    export(tmp_path)
    assert main(["schema", "check", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "README.md").exists()


def test_check_of_a_directory_that_does_not_exist_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["schema", "check", "--dir", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("walkout schema: ") and "is not a directory" in err


def test_the_committed_schemas_match_the_models(capsys: pytest.CaptureFixture[str]) -> None:
    # The same check `make schema-check` runs in CI, so a stale docs/schemas fails here first
    assert main(["schema", "check", "--dir", str(REPO / "docs" / "schemas")]) == 0, (
        capsys.readouterr().err
    )


# --- the exported event schema describes what parse_event accepts ---------------------------


def event_validator(tmp_path: Path) -> Any:
    # jsonschema arrives with cfn-lint in the dev extra; without it only these tests skip.
    jsonschema = pytest.importorskip("jsonschema")
    export(tmp_path)
    schema = json.loads((tmp_path / "walkout.event-1.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


SHELF_RECORD: dict[str, Any] = {
    "schema": "walkout.event/1",
    "event_id": "01JDQ2ZK8R4V6X0B3C5D7E9F1G",
    "store_id": "store-042",
    "device_id": "edge-1",
    "seq": 5,
    "ts": "2026-11-25T18:03:12.345Z",
    "type": "shelf.changed",
    "data": {
        "shelf_id": "shelf-a1",
        "lane_id": "lane-3",
        "delta_g": -355.0,
        "t_start": "2026-11-25T18:03:10.000Z",
        "t_end": "2026-11-25T18:03:11.000Z",
        "noise_g": 2.0,
        "candidates": [
            {"track_id": "trk-1", "session_id": None, "reach_score": 0.8, "distance_m": 0.4}
        ],
        "evidence": [],
    },
}


def test_a_record_parse_event_accepts_is_valid_against_the_exported_schema(
    tmp_path: Path,
) -> None:
    validator = event_validator(tmp_path)
    record = event_to_dict(parse_event(SHELF_RECORD))
    assert list(validator.iter_errors(record)) == []


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(type="shelf.exploded"),
        lambda r: r["data"].update(colour="red"),
        lambda r: r.update(event_id="not-a-ulid"),
        lambda r: r.update(ts="2026-11-25T20:03:12.345+02:00"),
        lambda r: r["data"]["candidates"][0].update(reach_score=1.5),
        lambda r: r["data"].pop("delta_g"),
    ],
)
def test_the_exported_schema_rejects_what_parse_event_rejects(tmp_path: Path, change: Any) -> None:
    validator = event_validator(tmp_path)
    record = json.loads(json.dumps(SHELF_RECORD))
    change(record)
    assert list(validator.iter_errors(record)) != []
