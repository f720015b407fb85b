"""Base model settings shared by every Walkout model.

Models are strict about unknown fields: a typo in a scenario, a config or an event is an
error that names the field, never a silently ignored value.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Identifiers appear in DynamoDB keys and S3 prefixes, where `#` and `/` are separators.
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"),
]
MinorUnits = Annotated[int, Field(ge=0, description="an amount in the currency's minor unit")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class Model(BaseModel):
    """Frozen, strict-about-extras base for domain and wire models."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
