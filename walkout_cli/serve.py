"""`walkout serve`: the HTTP API and its pages on 127.0.0.1, against moto (or an endpoint)."""

from __future__ import annotations

import argparse
import logging
import os
import warnings

from walkout_cli.errors import CliError

HOST = "127.0.0.1"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "serve",
        help="serve the HTTP API and its pages locally (moto in server mode)",
        description="Serve the API function and its pages (review console, live cart) on "
        f"{HOST}:PORT. Requests become HTTP API (payload v2) events; bearer tokens from "
        "`walkout token` are verified as the stack's JWT authorizer would. Without "
        "--endpoint-url a moto server is started on a free port with the stack's tables.",
    )
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument(
        "--endpoint-url",
        default=None,
        help="an AWS endpoint that already runs (e.g. a moto server); its tables are "
        "created if it has none",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="log every request and the function's logs"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise CliError(f"--port: {args.port} is not a TCP port")
    # Imported here: `localcloud` and moto are development packages, not needed elsewhere.
    from localcloud.dev_issuer import DevIssuer, TokenError  # noqa: PLC0415
    from localcloud.serve import (  # noqa: PLC0415
        LocalApi,
        ServeError,
        describe,
        load_handler,
        make_server,
        read_config,
        start_backend,
    )
    from walkout.config import ConfigError  # noqa: PLC0415

    if not args.verbose:
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
        # Powertools warns on every request that records no business metric.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
    try:
        issuer = DevIssuer.load_or_create()
        config = read_config()
        backend = start_backend(config, endpoint_url=args.endpoint_url)
    except (OSError, TokenError, ConfigError, ServeError) as exc:
        raise CliError(str(exc)) from None
    try:
        server = make_server(
            LocalApi(load_handler(), issuer), args.port, host=HOST, quiet=not args.verbose
        )
    except ServeError as exc:
        backend.stop()
        raise CliError(str(exc)) from None
    for line in describe(f"http://{HOST}:{args.port}", backend):
        print(line, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        server.server_close()
        backend.stop()
    return 0
