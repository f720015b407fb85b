"""`walkout-edge run --config FILE`: the subcommand, registered into the CLI's subparsers.

Exit status: 0 stopped or drained, 1 a runtime failure (outbox file damaged, disk refusing
writes, source failing), 2 a config problem. Failures print one line on stderr, after the
JSON log line that records them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

EXIT_FAILURE = 1
EXIT_CONFIG = 2


def register_run(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run the store daemon: source → durable outbox → Kinesis and S3",
        description="Run the store daemon with the YAML config FILE (see docs/edge-install.md).",
    )
    parser.add_argument("--config", required=True, type=Path, metavar="FILE")
    parser.set_defaults(handler=run_command)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"walkout-edge run: {message}", file=sys.stderr)
    return code


def run_command(args: argparse.Namespace) -> int:
    # Imported here: other subcommands should not pay for boto3 and the uplink at start-up.
    from walkout_edge.config import ConfigError, load_config  # noqa: PLC0415
    from walkout_edge.daemon import Daemon, DaemonError  # noqa: PLC0415
    from walkout_edge.jsonlog import setup_logging  # noqa: PLC0415
    from walkout_edge.uplink.outbox import OutboxError  # noqa: PLC0415

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    setup_logging(
        config.log_level, static={"store_id": config.store_id, "device_id": config.device_id}
    )
    log = logging.getLogger("walkout_edge.daemon")
    try:
        status: int = Daemon(config).run()
        return status
    except DaemonError as exc:
        log.error("walkout-edge stopped", extra={"error": str(exc), "exit_status": exc.exit_code})
        return _fail(str(exc), exc.exit_code)
    except OutboxError as exc:
        log.error("walkout-edge stopped", extra={"error": str(exc), "exit_status": EXIT_FAILURE})
        return _fail(str(exc), EXIT_FAILURE)
