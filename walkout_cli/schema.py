"""`walkout schema`: export the contracts' JSON Schemas, and check committed ones for drift.

The files in `docs/schemas/` are what edge agents and integrators build against; CI runs
`check` so that a model change without a re-export fails the build instead of silently
changing the contract.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from walkout.cart import Receipt
from walkout.definition import StoreDefinition
from walkout.events import EVENT_ADAPTER, EVENT_SCHEMA
from walkout_cli.errors import CliError

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Export owns only files named like this; anything else in the directory is left alone.
OWNED_GLOB = "walkout.*.schema.json"


def _event_schema() -> dict[str, Any]:
    schema = EVENT_ADAPTER.json_schema(by_alias=True, mode="validation")
    schema["title"] = EVENT_SCHEMA
    schema["description"] = (
        "One edge-to-cloud record: an envelope whose `data` is chosen by `type`."
    )
    return schema


def _model_schema(model: type[BaseModel], title: str) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        schema = model.model_json_schema(by_alias=True, mode="validation")
        schema["title"] = title
        return schema

    return build


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "walkout.event-1.schema.json": _event_schema,
    "walkout.store-1.schema.json": _model_schema(StoreDefinition, "walkout.store/1"),
    "walkout.receipt-1.schema.json": _model_schema(Receipt, "walkout.receipt/1"),
}


def render(build: Callable[[], dict[str, Any]]) -> str:
    """The exact text of a schema file: sorted keys, two-space indent, trailing newline."""
    schema = {"$schema": JSON_SCHEMA_DIALECT, **build()}
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    return {name: render(build) for name, build in SCHEMAS.items()}


def export(out: Path) -> list[Path]:
    """Write every schema to `out`, removing owned files that no model produces any more."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {out}: {exc.strerror}") from None
    expected = expected_files()
    for stale in sorted(out.glob(OWNED_GLOB)):
        if stale.name not in expected:
            stale.unlink()
    written = []
    for name, text in expected.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def drift(directory: Path) -> list[str]:
    """Human-readable differences between `directory` and the models; empty when in sync."""
    if not directory.is_dir():
        raise CliError(f"{directory} is not a directory")
    problems = []
    expected = expected_files()
    for name, text in expected.items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name} differs from the models")
    for path in sorted(directory.glob(OWNED_GLOB)):
        if path.name not in expected:
            problems.append(f"{path.name} is no longer produced by any model")
    return problems


def _run_export(args: argparse.Namespace) -> int:
    written = export(Path(args.out))
    print(f"wrote {len(written)} schema files to {args.out}")
    return 0


def _run_check(args: argparse.Namespace) -> int:
    problems = drift(Path(args.dir))
    if problems:
        raise CliError(
            f"schemas in {args.dir} drifted: {'; '.join(problems)}"
            " (run `make schemas` and commit the result)"
        )
    print(f"schemas in {args.dir} match the models")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "schema",
        help="export or check the JSON Schemas of the wire contract and documents",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="schema_command", metavar="ACTION", required=True)
    export_parser = actions.add_parser("export", help="write the JSON Schema files")
    export_parser.add_argument("--out", required=True, metavar="DIR", help="target directory")
    export_parser.set_defaults(func=_run_export)
    check_parser = actions.add_parser(
        "check", help="fail when the files in DIR differ from the models"
    )
    check_parser.add_argument("--dir", required=True, metavar="DIR", help="committed schemas")
    check_parser.set_defaults(func=_run_check)
