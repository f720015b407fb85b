"""`walkout openapi export|check`: the API's OpenAPI 3.1 document, generated from the code.

`export` writes docs/openapi.json; `check` fails (for CI) when the committed document
differs from what the code generates now.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from walkout.api.app import create_app, openapi_json
from walkout_cli.errors import CliError

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def generated_document() -> str:
    def no_service() -> object:
        raise RuntimeError("the OpenAPI export never calls a route")

    app = create_app(no_service, no_service)  # type: ignore[arg-type]
    return json.dumps(json.loads(openapi_json(app)), indent=2, sort_keys=True) + "\n"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("openapi", help="export or drift-check docs/openapi.json")
    parser.add_argument("action", choices=["export", "check"])
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help="the document's path")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    document = generated_document()
    path: Path = args.path
    if args.action == "export":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document, encoding="utf-8")
        print(f"wrote {path}")
        return 0
    if not path.exists():
        raise CliError(f"{path} does not exist; run `walkout openapi export`")
    if path.read_text(encoding="utf-8") != document:
        raise CliError(
            f"{path} is out of date with the code; run `walkout openapi export` and commit it"
        )
    print(f"{path} is up to date")
    return 0
