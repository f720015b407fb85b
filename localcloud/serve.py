"""A local HTTP server in front of the real API function, standing in for API Gateway.

Each request becomes an HTTP API payload v2 event (what API Gateway hands the function):
`rawPath`, `rawQueryString`, lower-cased `headers`, `cookies`, `body`/`isBase64Encoded` and
`requestContext.http`. A `Authorization: Bearer …` token signed by the local development
issuer (`walkout token`) is verified here and its claims are put under
`requestContext.authorizer.jwt.claims`, as the stack's JWT authorizer does. Without a valid
token there is no authorizer block and the API answers 401 itself; the public paths (the
API description under `/docs`, the pages under `/app/`) never get one, as in the stack.

The event goes to `functions/api/handler.py`'s `lambda_handler`, in this process, one at a
time (a Lambda container runs one invocation at a time too), and the function's answer
(`statusCode`, `headers`, `cookies`, `body`, base64) is written back.

`start_backend` brings up what the function talks to: a moto server on a free port (or an
endpoint that already runs) with the stack's tables, event bus and evidence bucket, and the
function's environment.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from localcloud import tables
from localcloud.dev_issuer import DevIssuer, TokenError, authorizer_claims
from walkout.api.settings import ApiSettings
from walkout.config import CONTEXT_KEY, DeploymentConfig
from walkout.tables import TABLES

ROOT: Final = Path(__file__).resolve().parents[1]
API_HANDLER: Final = ROOT / "functions" / "api" / "handler.py"
CDK_JSON: Final = ROOT / "cdk.json"
DEFAULT_REGION: Final = "eu-west-1"
LOCAL_ACCOUNT: Final = "123456789012"  # moto's default account
# Routes the stack serves without its JWT authorizer.
PUBLIC_PATHS: Final = ("/docs",)
PUBLIC_PREFIXES: Final = ("/app/",)
# Lambda's synchronous payload limit: API Gateway refuses larger requests too.
MAX_BODY_BYTES: Final = 6 * 1024 * 1024
_TEXT_TYPES: Final = ("application/json", "+json", "text/", "application/x-www-form-urlencoded")
_HOP_BY_HOP: Final = frozenset(
    {"connection", "content-length", "transfer-encoding", "keep-alive", "date", "server"}
)

Handler = Callable[[dict[str, Any], Any], Any]


class ServeError(RuntimeError):
    """The local server cannot start (a port in use, a bad endpoint): one readable line."""


# --- the function ---------------------------------------------------------------------------


def load_handler(path: Path = API_HANDLER) -> Handler:
    """`lambda_handler` of a function's handler file, imported as Lambda would import it."""
    spec = importlib.util.spec_from_file_location(f"walkout_local_{path.parent.name}", path)
    if spec is None or spec.loader is None:
        raise ServeError(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Handler = module.lambda_handler
    return handler


@dataclass
class LocalContext:
    """The parts of Lambda's context object that Powertools reads."""

    function_name: str = "walkout-local-api"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = (
        f"arn:aws:lambda:{DEFAULT_REGION}:{LOCAL_ACCOUNT}:function:walkout-local-api"
    )
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/walkout-local-api"
    log_stream_name: str = "local"
    timeout_s: float = 29.0  # API Gateway's integration timeout
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


@dataclass(frozen=True)
class LocalRequest:
    method: str
    target: str  # path and query as received, e.g. "/stores?limit=5"
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class LocalResponse:
    status: int
    headers: dict[str, str]
    cookies: list[str]
    body: bytes


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    return any(kind.startswith(t) or kind.endswith(t) for t in _TEXT_TYPES)


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class LocalApi:
    """Requests in, the API function's answers out."""

    def __init__(self, handler: Handler, issuer: DevIssuer) -> None:
        self.handler = handler
        self.issuer = issuer
        self._one_at_a_time = threading.Lock()

    def claims_for(self, headers: Mapping[str, str]) -> dict[str, str] | None:
        """The authorizer's claims for a request's bearer token; None without a valid one."""
        token = _bearer(headers)
        if token is None:
            return None
        try:
            return authorizer_claims(self.issuer.verify(token))
        except TokenError:
            return None

    def event(self, request: LocalRequest) -> dict[str, Any]:
        """The HTTP API payload v2 event API Gateway would send for `request`."""
        split = urlsplit(request.target)
        path = split.path or "/"
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, raw in request.headers:
            key = name.lower()
            if key == "cookie":
                cookies.extend(c.strip() for c in raw.split(";") if c.strip())
                continue
            # API Gateway joins repeated headers with commas.
            headers[key] = f"{headers[key]},{raw}" if key in headers else raw
        now = datetime.now(UTC)
        request_context: dict[str, Any] = {
            "accountId": LOCAL_ACCOUNT,
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": request.method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        claims = None if is_public(path) else self.claims_for(headers)
        if claims is not None:
            request_context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
        query: dict[str, str] = {}
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": split.query,
            "headers": headers,
            "requestContext": request_context,
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if request.body:
            text = None
            if _is_text(headers.get("content-type", "")):
                try:
                    text = request.body.decode("utf-8")
                except UnicodeDecodeError:
                    text = None
            if text is None:
                event["body"] = base64.b64encode(request.body).decode("ascii")
                event["isBase64Encoded"] = True
            else:
                event["body"] = text
        return event

    def handle(self, request: LocalRequest) -> LocalResponse:
        event = self.event(request)
        with self._one_at_a_time:
            result = self.handler(event, LocalContext())
        return response_of(result)


def response_of(result: Any) -> LocalResponse:
    """API Gateway's reading of a payload v2 function result: a dict with `statusCode`, or
    anything else as a 200 JSON body."""
    if not isinstance(result, dict) or "statusCode" not in result:
        text = result if isinstance(result, str) else json.dumps(result)
        return LocalResponse(200, {"content-type": "application/json"}, [], text.encode())
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[str(name)] = ",".join(str(v) for v in values)
    raw = result.get("body") or ""
    body: bytes
    if result.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return LocalResponse(502, {"content-type": "application/json"}, [], b"{}")
    else:
        body = str(raw).encode("utf-8")
    return LocalResponse(
        int(result["statusCode"]), headers, [str(c) for c in result.get("cookies") or []], body
    )


# --- the HTTP server ------------------------------------------------------------------------


class _RequestHandler(BaseHTTPRequestHandler):
    server_version = "walkout-local"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    api: LocalApi
    quiet: bool

    def _dispatch(self) -> None:
        length_text = self.headers.get("Content-Length") or "0"
        try:
            length = int(length_text)
        except ValueError:
            self._plain(400, "bad Content-Length")
            return
        if length < 0 or length > MAX_BODY_BYTES:
            self._plain(413, f"request body over {MAX_BODY_BYTES} bytes")
            return
        body = self.rfile.read(length) if length else b""
        request = LocalRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        try:
            response = self.api.handle(request)
        except Exception as exc:
            # What API Gateway answers when the function fails: 500, no details to the client.
            self.log_error("the API function failed: %s", type(exc).__name__)
            self._plain(500, '{"message":"Internal Server Error"}', "application/json")
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        for cookie in response.cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _plain(self, status: int, text: str, content_type: str = "text/plain") -> None:
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    # BaseHTTPRequestHandler's names for its per-method hooks.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: a query string may carry session ids.
        if not self.quiet:
            path = urlsplit(self.path).path
            self.log_message('"%s %s" %s', self.command, path, str(code))


def make_server(api: LocalApi, port: int, *, host: str = "127.0.0.1", quiet: bool = False) -> Any:
    """A threading HTTP server on host:port (0: a free port) that serves `api`."""
    handler = type("LocalApiRequestHandler", (_RequestHandler,), {"api": api, "quiet": quiet})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server.daemon_threads = True
    return server


# --- what the function talks to -------------------------------------------------------------


def read_config(path: Path = CDK_JSON) -> DeploymentConfig:
    """The deployment config of `cdk.json` (context `walkout`), as `cdk synth` reads it."""
    if not path.exists():
        return DeploymentConfig()
    context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    return DeploymentConfig.from_context(context.get(CONTEXT_KEY))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def aws_environment(endpoint_url: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """boto3's view of the local cloud: every client at the endpoint, dummy credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # moto's Step Functions interpreter calls Lambda on this port.
        "MOTO_PORT": str(urlsplit(endpoint_url).port or 5000),
    }


def evidence_bucket(config: DeploymentConfig, region: str = DEFAULT_REGION) -> str:
    return config.evidence_bucket_name(LOCAL_ACCOUNT, region)


def api_environment(config: DeploymentConfig, region: str = DEFAULT_REGION) -> dict[str, str]:
    """The API function's environment, as `infrastructure/api.py` gives it in the stack."""
    return {
        **ApiSettings.environment(
            config,
            stores_table=config.table_name("stores"),
            sessions_table=config.table_name("sessions"),
            receipts_table=config.table_name("receipts"),
            ingest_table=config.table_name("ingest"),
            event_bus_name=config.event_bus_name,
            evidence_bucket=evidence_bucket(config, region),
        ),
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
    }


def create_missing_resources(session: Any, config: DeploymentConfig, region: str) -> None:
    """The stack's tables, event bus and evidence bucket at the endpoint, those missing."""
    create_missing_tables(session.client("dynamodb"), config)
    events = session.client("events")
    buses = {b["Name"] for b in events.list_event_buses().get("EventBuses", [])}
    if config.event_bus_name not in buses:
        events.create_event_bus(Name=config.event_bus_name)
    s3 = session.client("s3")
    bucket = evidence_bucket(config, region)
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        # us-east-1 is the one region that takes no location constraint.
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )


def create_missing_tables(ddb: Any, config: DeploymentConfig) -> list[str]:
    """The stack's tables at the endpoint; returns those created (an endpoint that already
    holds them, e.g. a running local cloud, is left as it is)."""
    existing = set(ddb.list_tables().get("TableNames", []))
    wanted = {config.table_name(key) for key in TABLES}
    if wanted <= existing:
        return []
    if existing & wanted:
        raise ServeError(
            f"the endpoint holds some of the stage's tables but not all: missing "
            f"{', '.join(sorted(wanted - existing))}"
        )
    tables.create_tables(ddb, config)
    return sorted(wanted)


@dataclass
class LocalBackend:
    endpoint_url: str
    config: DeploymentConfig
    environment: dict[str, str]
    moto: Any | None = None

    def stop(self) -> None:
        if self.moto is not None:
            self.moto.stop()
            self.moto = None


def start_backend(
    config: DeploymentConfig,
    *,
    endpoint_url: str | None = None,
    region: str = DEFAULT_REGION,
    apply: Callable[[Mapping[str, str]], None] | None = None,
) -> LocalBackend:
    """Start moto on a free port (unless `endpoint_url` names a running endpoint), create the
    stack's resources there that are missing, and set the API function's environment
    through `apply` (default: this process's `os.environ`)."""
    import boto3  # noqa: PLC0415 - only the server needs it at start

    moto = None
    if endpoint_url is None:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - a development dependency

        port = free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        endpoint_url = f"http://127.0.0.1:{port}"
    if urlsplit(endpoint_url).scheme not in {"http", "https"}:
        raise ServeError(f"--endpoint-url: {endpoint_url!r} is not an http(s) URL")
    environment = {**aws_environment(endpoint_url, region), **api_environment(config, region)}
    (apply or _apply_to_process)(environment)
    _forget_cached_clients()
    session = boto3.Session(
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )
    try:
        create_missing_resources(_AtEndpoint(session, endpoint_url), config, region)
    except ServeError:
        if moto is not None:
            moto.stop()
        raise
    except Exception as exc:
        if moto is not None:
            moto.stop()
        raise ServeError(f"cannot prepare {endpoint_url}: {exc}") from None
    return LocalBackend(endpoint_url, config, environment, moto)


@dataclass(frozen=True)
class _AtEndpoint:
    session: Any
    endpoint_url: str

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)


def _apply_to_process(environment: Mapping[str, str]) -> None:
    os.environ.update(environment)


def _forget_cached_clients() -> None:
    # Clients and settings are cached per process (per Lambda container); a new endpoint or
    # environment needs fresh ones.
    from walkout.api.review import presigning_s3  # noqa: PLC0415
    from walkout.data import dynamo  # noqa: PLC0415
    from walkout.settings import get_settings  # noqa: PLC0415

    dynamo.client.cache_clear()
    presigning_s3.cache_clear()
    get_settings.cache_clear()


def page_urls(base_url: str) -> dict[str, str]:
    return {
        "review console": f"{base_url}/app/review#token=<reviewer token>",
        "live cart": f"{base_url}/app/cart?store=<store id>&session=<session id>"
        "#token=<shopper token>",
        "API docs": f"{base_url}/docs",
    }


def describe(base_url: str, backend: LocalBackend) -> Iterable[str]:
    where = "moto, started here" if backend.moto is not None else "your endpoint"
    yield (
        f"Walkout API on {base_url} (stage {backend.config.stage}; AWS at "
        f"{backend.endpoint_url}, {where})"
    )
    for name, url in page_urls(base_url).items():
        yield f"  {name + ':':16}{url}"
    yield "Tokens: walkout token --retailer ID --role admin|reviewer|shopper [--session ID]"
    yield (
        '  e.g. curl -H "Authorization: Bearer $(walkout token --retailer r1 --role admin)" '
        f"{base_url}/stores"
    )
    yield "Ctrl-C stops."
