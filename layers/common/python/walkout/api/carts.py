"""The live cart of a session, as a shopper sees it in the store (and staff on their side).

Who may read a cart: the retailer's staff, for their own stores; a shopper, for the
sessions their token names, in stores of the retailer that issued it. Every refusal is the
same 404 with the same detail, so a shopper cannot tell another shopper's session from no
session, nor another retailer's store from no store.
"""

from __future__ import annotations

from walkout.api.auth import Caller, Role
from walkout.api.problems import ResourceNotFoundError
from walkout.data.catalog_admin import RetailerStores
from walkout.data.sessions import CartRecord, SessionRecord, SessionsTable


class LiveCarts:
    def __init__(self, stores: RetailerStores, sessions: SessionsTable) -> None:
        self.stores = stores
        self.sessions = sessions

    def read(
        self, caller: Caller, store_id: str, session_id: str
    ) -> tuple[SessionRecord, CartRecord]:
        missing = ResourceNotFoundError(f"session {session_id} not found in store {store_id}")
        staff = caller.roles & {Role.ADMIN, Role.REVIEWER}
        if not staff and session_id not in caller.session_ids:
            raise missing
        if not self.stores.owns(caller.retailer_id, store_id):
            raise missing
        session, cart = self.sessions.read_session(store_id, session_id)
        if session is None or cart is None:
            raise missing
        return session, cart
