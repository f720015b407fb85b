"""Structured logs: one JSON object per line on stderr (journald keeps them as they are).

Fields: `ts`, `level`, `logger`, `msg`, whatever was passed in `extra=`, and `exc` for a
traceback. Shopper identity never goes to a log: keys that could carry it are replaced
with "[redacted]" wherever they appear in `extra`, however deeply nested, because a log
line outlives every retention promise made for the data it came from.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Final

from walkout.events import format_timestamp

REDACTED_KEYS: Final = frozenset({"account_ref", "account", "card", "email", "phone"})
_STANDARD: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "[redacted]" if str(k) in REDACTED_KEYS else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def __init__(self, static: dict[str, str] | None = None) -> None:
        super().__init__()
        self._static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": format_timestamp(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **self._static,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = "[redacted]" if key in REDACTED_KEYS else _scrub(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup_logging(
    level: str = "info", *, static: dict[str, str] | None = None, stream: IO[str] | None = None
) -> None:
    """Route the root logger to JSON lines on `stream` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(static))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # boto's own loggers chatter at INFO about credentials and retries.
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
