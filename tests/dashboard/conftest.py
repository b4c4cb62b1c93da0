"""The dashboard tests' browser: an HTTP client on the app, signed in as the team
(``test_sign_in.py`` has its own, signed out)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from cstar.server.services.teams import CreatedTeam
from tests.dashboard.support import signed_in


@pytest.fixture
async def browser(
    settings: Settings, container: Container, team: CreatedTeam
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, container=container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        await signed_in(client, team)
        yield client
