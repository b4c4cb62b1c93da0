"""Per-key rate limits: 429 in the seed's shape with Retry-After and X-RateLimit-* headers."""

from __future__ import annotations

import httpx

from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from cstar.server.services.teams import CreatedTeam
from tests.helpers import assert_error, assert_success, bearer, key_limiter, with_rate_limit


async def test_limit_headers_count_down_then_429(
    settings: Settings, container: Container, team: CreatedTeam
) -> None:

    limited = with_rate_limit(settings, 3, 60)
    container.key_limiter = key_limiter(container, 3, 60)
    app = create_app(limited, container=container)
    url = f"/api/v1/teams/{team.team.id}/webhooks"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        seen = []
        for _ in range(3):
            response = await http.get(url, headers=bearer(team.secret_key))
            assert_success(response)
            seen.append(int(response.headers["x-ratelimit-remaining"]))
            assert response.headers["x-ratelimit-limit"] == "3"
        assert seen == [2, 1, 0]
        blocked = await http.get(url, headers=bearer(team.secret_key))
        error = assert_error(blocked, 429, "rate_limit_error", "rate_limit_exceeded")
        retry_after = int(blocked.headers["retry-after"])
        assert 1 <= retry_after <= 60
        assert error["message"] == f"Rate limit exceeded. Try again in {retry_after} seconds"
        assert error["doc_url"].endswith("#rate-limiting")
        assert blocked.headers["x-ratelimit-remaining"] == "0"
        reset = int(blocked.headers["x-ratelimit-reset"])
        assert reset % 60 == 0
        assert reset > int(container.clock().timestamp())
        # Another team's key has its own budget.
        other = await container.teams.create_team("Other")
        assert_success(
            await http.get(
                f"/api/v1/teams/{other.team.id}/webhooks", headers=bearer(other.secret_key)
            )
        )
