"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings


@pytest.fixture
async def shared(settings: Settings) -> AsyncIterator[Container]:
    """The test's own view of the database that the processes under test use (to set up and
    to check)."""
    node = await open_container(replace(settings, dev=True), bootstrap=False)
    try:
        yield node
    finally:
        await node.aclose()
