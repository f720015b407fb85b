"""Entry point of `walkout-edge`, the store-box command (run, replay, bench, calibrate)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from walkout_edge import __version__
from walkout_edge.perception.replay_cli import register_bench, register_replay
from walkout_edge.uplink_cli import register_run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="walkout-edge",
        description="Walkout edge agent: turns a store's cameras, load cells and gates "
        "into walkout.event/1 events.",
    )
    parser.add_argument("--version", action="version", version=f"walkout-edge {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    register_run(subparsers)
    register_replay(subparsers)
    register_bench(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handler = getattr(args, "handler", None)
    if handler is None:
        return 0
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
