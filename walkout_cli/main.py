"""Entry point of `walkout`: one subcommand per module, each registering its own parser."""

from __future__ import annotations

import argparse
import gc
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


def run() -> None:
    """The `walkout` command: `main`, then exit.

    A command that ran the local cloud leaves a large heap behind (the emulated tables, the
    run's records): the interpreter's last collection of it at exit took a minute after a
    stadium-rush bench, with nothing to gain, since the exit frees it all anyway. So what
    is alive when the command is done is left out of that collection."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
