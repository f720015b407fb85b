"""Fixtures for the attribution tests (the store itself is in `attribution_support`)."""

from __future__ import annotations

import pytest
from attribution_support import ShelfEventFactory, shelf_event_factory, small_definition

from walkout.attribution import Floor
from walkout.definition import StoreDefinition


@pytest.fixture(scope="session")
def definition() -> StoreDefinition:
    return small_definition()


@pytest.fixture(scope="session")
def floor(definition: StoreDefinition) -> Floor:
    return Floor.of(definition)


@pytest.fixture
def shelf_event() -> ShelfEventFactory:
    return shelf_event_factory()
