"""Entry point of `walkout`: one subcommand per module, each registering its own parser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from walkout_cli import bench, demo, eval, openapi, schema, serve, sim, token
from walkout_cli.errors import CliError

# Each command module exposes `register(subparsers)` and sets `func` on its parser.
COMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    schema.register,
    sim.register,
    eval.register,
    openapi.register,
    token.register,
    bench.register,
    serve.register,
    demo.register,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="walkout",
        description="Walkout developer and operator tools.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except CliError as exc:
        print(f"walkout {args.command}: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
