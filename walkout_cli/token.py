"""`walkout token`: a development bearer token for the local server (`walkout serve`)."""

from __future__ import annotations

import argparse
import re

from walkout.api.auth import ADMIN_GROUP, REVIEWER_GROUP
from walkout_cli.errors import CliError

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_GROUPS = {"admin": [ADMIN_GROUP], "reviewer": [REVIEWER_GROUP], "shopper": []}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "token",
        help="print a development token the local server accepts",
        description="Print a development JWT (RS256, local issuer) for "
        "`Authorization: Bearer ...` against `walkout serve`.",
    )
    parser.add_argument("--retailer", required=True, help="retailer id (the tenant)")
    parser.add_argument("--role", required=True, choices=sorted(_GROUPS))
    parser.add_argument(
        "--session", action="append", default=[], help="a shopper's session id (repeatable)"
    )
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not _ID.match(args.retailer):
        raise CliError(f"--retailer: {args.retailer!r} is not an identifier")
    bad = [s for s in args.session if not _ID.match(s)]
    if bad:
        raise CliError(f"--session: {bad[0]!r} is not an identifier")
    if args.role == "shopper" and not args.session:
        raise CliError("--role shopper needs at least one --session")
    if args.role != "shopper" and args.session:
        raise CliError("--session is only for --role shopper")
    if args.ttl <= 0:
        raise CliError("--ttl must be positive")
    # Imported here: `localcloud` is a development package, not needed by other commands.
    from localcloud.dev_issuer import DevIssuer, TokenError  # noqa: PLC0415

    try:
        issuer = DevIssuer.load_or_create()
    except (OSError, TokenError) as exc:
        raise CliError(f"development issuer key: {exc}") from None
    print(
        issuer.issue(
            retailer_id=args.retailer,
            groups=_GROUPS[args.role],
            session_ids=args.session,
            subject=f"dev-{args.role}-{args.retailer}",
            ttl_s=args.ttl,
        )
    )
    return 0
