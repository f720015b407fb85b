"""A store's full definition as one document (`store.json` of a recording).

Layout, catalog and planogram each validate on their own; this document checks that they
agree: every planogram lane exists in the layout and every planogram SKU in the catalog.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final, Literal

from pydantic import Field, model_validator

from walkout._base import Model
from walkout.catalog import Catalog, Planogram
from walkout.store import Store

STORE_SCHEMA: Final = "walkout.store/1"


class StoreDefinition(Model):
    schema_: Literal["walkout.store/1"] = Field(default=STORE_SCHEMA, alias="schema")
    store: Store
    catalog: Catalog
    planogram: Planogram

    @model_validator(mode="after")
    def _planogram_fits(self) -> StoreDefinition:
        lanes = set(self.store.lanes())
        skus = set(self.catalog.by_sku())
        for entry in self.planogram.entries:
            if entry.lane_id not in lanes:
                raise ValueError(f"planogram: lane {entry.lane_id} is not in the store layout")
            if entry.sku not in skus:
                raise ValueError(
                    f"planogram: sku {entry.sku} (lane {entry.lane_id}) is not in the catalog"
                )
        if self.catalog.currency != self.store.currency:
            raise ValueError(
                f"catalog currency {self.catalog.currency}"
                f" differs from the store's {self.store.currency}"
            )
        return self

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=1, sort_keys=True)

    @classmethod
    def load(cls, path: Path) -> StoreDefinition:
        return cls.model_validate_json(path.read_text(encoding="utf-8"))
