"""`CartUpdated` on EventBridge, for the push to the shopper's app.

One event per session per batch (its latest cart), sent with `PutEvents` in chunks of ten
(the API's limit). A notification is best effort: the live cart in DynamoDB is the truth
and the app can always read it, so a failed entry is counted and logged, never retried
into a duplicate push or a failed batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from walkout.cart import Cart

SOURCE: Final = "walkout.ingest"
CART_UPDATED: Final = "CartUpdated"
PUT_EVENTS_MAX_ENTRIES: Final = 10


def cart_updated_detail(cart: Cart, confidence: float) -> dict[str, Any]:
    """The event's detail: the cart as the app shows it (no shopper identity in it)."""
    return {
        "store_id": cart.store_id,
        "session_id": cart.session_id,
        "version": cart.version,
        "confidence": round(confidence, 6),
        "cart": cart.model_dump(mode="json"),
    }


class CartNotifier:
    def __init__(self, events: Any, bus_name: str) -> None:
        self.events = events
        self.bus_name = bus_name

    def publish(self, updates: Sequence[tuple[Cart, float]]) -> int:
        """Send one `CartUpdated` per cart; returns how many entries failed."""
        failed = 0
        entries = [
            {
                "Source": SOURCE,
                "DetailType": CART_UPDATED,
                "Detail": json.dumps(cart_updated_detail(cart, confidence), sort_keys=True),
                "EventBusName": self.bus_name,
                "Resources": [],
            }
            for cart, confidence in updates
        ]
        for start in range(0, len(entries), PUT_EVENTS_MAX_ENTRIES):
            chunk = entries[start : start + PUT_EVENTS_MAX_ENTRIES]
            try:
                response = self.events.put_events(Entries=chunk)
            except Exception:
                failed += len(chunk)
                continue
            failed += int(response.get("FailedEntryCount", 0))
        return failed
