"""Test support for the local server (`localcloud.serve`): a moto server with the stack's
resources, the real API function behind a real HTTP server on a free port, dev tokens, and
the writes other parts of the system make (ingest's cart commits, the review queue)."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.dev_issuer import DevIssuer
from localcloud.serve import LocalApi, LocalBackend, load_handler, make_server, start_backend
from walkout.api.auth import ADMIN_GROUP, REVIEWER_GROUP
from walkout.attribution.record import Action, Attribution, Hypothesis, SessionShare
from walkout.cart import Cart
from walkout.catalog import Catalog
from walkout.config import DeploymentConfig
from walkout.data import dynamo
from walkout.data.sessions import CartRecord, CartWrite, SessionRecord, SessionsTable
from walkout.ingest.lifecycle import SessionStatus
from walkout.pricing import price_items
from walkout.settings import get_settings

# The store definition is the API tests' (tests/integration/api), with this server's lanes.
_API_SUPPORT = str(Path(__file__).resolve().parents[1] / "api")
if _API_SUPPORT not in sys.path:
    sys.path.append(_API_SUPPORT)
from api_support import product  # noqa: E402
from api_support import store_body as api_store_body  # noqa: E402

REGION = "eu-west-1"
CONFIG = DeploymentConfig(stage="serve")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does it)",
)


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class LocalStack:
    base_url: str
    backend: LocalBackend
    issuer: DevIssuer

    @property
    def endpoint_url(self) -> str:
        return self.backend.endpoint_url

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    # tokens ----------------------------------------------------------------------------------
    def admin(self, retailer: str) -> str:
        return self.issuer.issue(retailer_id=retailer, groups=[ADMIN_GROUP])

    def reviewer(self, retailer: str) -> str:
        return self.issuer.issue(
            retailer_id=retailer, groups=[REVIEWER_GROUP], subject=f"reviewer-{retailer}"
        )

    def shopper(self, retailer: str, session: str) -> str:
        return self.issuer.issue(retailer_id=retailer, session_ids=[session])

    # HTTP ------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=sent
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Reply(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as error:
            return Reply(error.code, dict(error.headers), error.read().decode())

    # the store and its carts ---------------------------------------------------------------------
    def create_store(self, retailer: str, body: Mapping[str, Any]) -> str:
        reply = self.request("POST", "/stores", token=self.admin(retailer), body=body)
        assert reply.status == 201, reply.text
        store_id: str = reply.json()["store_id"]
        return store_id

    def sessions(self) -> SessionsTable:
        return SessionsTable(
            self.client("dynamodb"),
            CONFIG.table_name("sessions"),
            ttl_days=CONFIG.transient_ttl_days,
            clock=lambda: datetime.now(UTC),
        )


@contextmanager
def local_stack(tmp: Path) -> Iterator[LocalStack]:
    """moto + the stack's resources + the API function behind a real HTTP server on a free
    port; the process environment is restored afterwards."""
    with pytest.MonkeyPatch.context() as patch:

        def apply(environment: Mapping[str, str]) -> None:
            for name, value in environment.items():
                patch.setenv(name, value)

        patch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
        backend = start_backend(CONFIG, region=REGION, apply=apply)
        issuer = DevIssuer.load_or_create(tmp)
        server = make_server(LocalApi(load_handler(), issuer), 0, quiet=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            host, port = server.server_address[:2]
            yield LocalStack(f"http://{host}:{port}", backend, issuer)
        finally:
            server.shutdown()
            server.server_close()
            backend.stop()
            dynamo.client.cache_clear()
            get_settings.cache_clear()


# --- writes other parts of the system make ---------------------------------------------------


def open_session(table: SessionsTable, catalog: Catalog, store_id: str, session_id: str) -> None:
    """A session with its empty live cart, as ingest opens it at the gate."""
    now = datetime.now(UTC)
    session = SessionRecord(
        store_id=store_id,
        session_id=session_id,
        status=SessionStatus.OPEN,
        tracks=[f"t-{session_id}"],
        gate_id="in",
        account_ref=f"acct-{session_id}",
        entered_at=now,
        opened_by=f"open-{session_id}",
    )
    cart = price(catalog, {}, store_id, session_id, version=0, at=now)
    assert (
        table.open_session(session, CartRecord(store_id=store_id, session_id=session_id, cart=cart))
        is None
    )


def price(
    catalog: Catalog,
    items: Mapping[str, int],
    store_id: str,
    session_id: str,
    *,
    version: int,
    at: datetime,
) -> Cart:
    return price_items(dict(items), catalog, prices_include_tax=True, at=at).to_cart(
        store_id=store_id, session_id=session_id, version=version, updated_at=at
    )


def commit_pick(
    table: SessionsTable,
    catalog: Catalog,
    *,
    store_id: str,
    session_id: str,
    lane_id: str,
    sku: str,
    event_id: str,
) -> None:
    """One pick committed the way ingest commits it: the attribution and the session's new
    priced cart in one transaction (`SessionsTable.commit_attribution`)."""
    current = table.get_cart(store_id, session_id)
    assert current is not None
    now = datetime.now(UTC)
    items = {**current.items, sku: current.items.get(sku, 0) + 1}
    attribution = Attribution(
        event_id=event_id,
        store_id=store_id,
        lane_id=lane_id,
        action=Action.PICK,
        delta_g=-355.0,
        t_start=now - timedelta(seconds=1),
        t_end=now,
        decision=Hypothesis(session_id=session_id, sku=sku, qty=1, probability=0.99),
        p_who=0.99,
        p_what=0.99,
        alternatives=[],
        sessions=[SessionShare(session_id=session_id, probability=0.99, factor=0.99, chosen=True)],
        reasons=["a pick committed by the live cart test"],
        model="test",
    )
    record = current.model_copy(
        update={
            "items": items,
            "factors": {**current.factors, event_id: 0.99},
            "rev": current.rev + 1,
            "cart": price(
                catalog, items, store_id, session_id, version=current.cart.version + 1, at=now
            ),
        }
    )
    assert table.commit_attribution(attribution, [CartWrite(record, current.rev)], None)


LANES = {"L1": ("cola", "Cola 0.33 l", 150), "L2": ("chips", "Salted chips", 199)}


def store_body(name: str = "Corner shop") -> dict[str, Any]:
    """A small store definition, as POST /stores takes it: the API tests' store (one camera,
    one shelf) with this server's two lanes, named products and a 2-colas-for-2.50 offer."""
    return api_store_body(
        name,
        planogram={lane_id: sku for lane_id, (sku, _, _) in LANES.items()},
        products=[product(sku, price, name=title) for sku, title, price in LANES.values()],
        multi_buy_minor=250,
    )


def catalog_of(body: Mapping[str, Any]) -> Catalog:
    return Catalog.model_validate(body["catalog"])
