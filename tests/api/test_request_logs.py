"""The API request log: what each request leaves (and never leaves) in it, GET .../logs with its
filters and cursors, and the recorder that keeps requests from waiting for the database."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from cstar.server.domain.request_logs import (
    LogCursor,
    RequestLogEntry,
    RequestLogPage,
    RequestLogQuery,
    loggable_path,
)
from cstar.server.services.request_log import RequestLogRecorder
from cstar.server.services.teams import CreatedTeam
from cstar.server.store.contract import StoreError
from cstar.server.store.schema import request_logs
from tests.helpers import assert_error, assert_success, bearer, key_limiter

FIELDS = {"id", "createdAt", "method", "path", "status", "durationMs", "requestId", "keyPrefix"}
#: Bounded waits for the background writer (which flushes every 250 ms).
WAIT = 10.0


def logs_url(team: CreatedTeam) -> str:
    return f"/api/v1/teams/{team.team.id}/logs"


async def rows(container: Container) -> list[dict[str, Any]]:
    def work(conn: sa.Connection) -> list[dict[str, Any]]:
        result = conn.execute(sa.select(request_logs).order_by(request_logs.c.id))
        return [dict(r._mapping) for r in result]

    return await container.database.read(work)


class Api:
    """The app over ASGI, and the container behind it."""

    def __init__(self, http: httpx.AsyncClient, container: Container) -> None:
        self.http = http
        self.container = container

    async def listed(self, team: CreatedTeam, **params: str | int) -> list[dict[str, Any]]:
        """The team's log as the API lists it, once everything recorded so far is written."""
        await self.container.request_log.flush()
        response = await self.http.get(
            logs_url(team), params=params, headers=bearer(team.secret_key)
        )
        data: list[dict[str, Any]] = assert_success(response)
        return data


@pytest.fixture
async def api(settings: Settings, container: Container) -> AsyncIterator[Api]:
    app = create_app(settings, container=container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Api(http, container)


async def create_webhook(api: Api, team: CreatedTeam, name: str = "n") -> Any:
    response = await api.http.post(
        f"/api/v1/teams/{team.team.id}/webhooks",
        json={"name": name, "url": "https://example.com/h", "events": "*"},
        headers=bearer(team.secret_key),
    )
    return assert_success(response, 201)


# -- what is recorded ---------------------------------------------------------------------------


async def test_every_field_of_a_request_is_recorded(
    api: Api, container: Container, team: CreatedTeam
) -> None:
    before = datetime.now(UTC)
    created = await api.http.post(
        f"/api/v1/teams/{team.team.id}/webhooks",
        json={"name": "n", "url": "https://example.com/h", "events": "*"},
        headers=bearer(team.secret_key),
    )
    assert_success(created, 201)
    listing = await api.http.get(
        f"/api/v1/teams/{team.team.id}/webhooks?active=true&limit=7",
        headers=bearer(team.secret_key),
    )
    assert_success(listing)
    after = datetime.now(UTC)

    entries = await api.listed(team)
    assert all(set(e) == FIELDS for e in entries)
    newest, oldest = entries
    assert newest["id"] > oldest["id"]
    assert isinstance(newest["id"], int)
    assert oldest["method"] == "POST"
    assert oldest["path"] == f"/api/v1/teams/{team.team.id}/webhooks"
    assert oldest["status"] == 201
    assert oldest["requestId"] == created.headers["x-request-id"]
    assert newest["method"] == "GET"
    assert newest["path"] == f"/api/v1/teams/{team.team.id}/webhooks?active&limit"
    assert newest["status"] == 200
    assert newest["requestId"] == listing.headers["x-request-id"]
    for entry in entries:
        assert entry["keyPrefix"] == team.secret_key[:12]
        assert isinstance(entry["durationMs"], int)
        assert 0 <= entry["durationMs"] < 10_000
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["createdAt"])
        moment = datetime.fromisoformat(entry["createdAt"].replace("Z", "+00:00"))
        assert before - timedelta(milliseconds=1) <= moment <= after

    keys = assert_success(
        await api.http.get(f"/api/v1/teams/{team.team.id}/keys", headers=bearer(team.secret_key))
    )
    secret_key_id = next(k["id"] for k in keys if k["type"] == "secret")
    stored = await rows(container)
    assert [r["request_id"] for r in stored[:2]] == [oldest["requestId"], newest["requestId"]]
    for row in stored[:2]:
        assert row["team_id"] == team.team.id
        assert row["key_id"] == secret_key_id
        assert row["key_prefix"] == team.secret_key[:12]


async def test_no_key_secret_body_or_query_value_is_stored(
    api: Api, container: Container, team: CreatedTeam
) -> None:
    from tests.api.test_secrets_at_rest import dump_database

    headers = bearer(team.secret_key)
    base = f"/api/v1/teams/{team.team.id}"
    created = await create_webhook(api, team, name="body-marker-5c1e")
    rotated = assert_success(
        await api.http.post(f"{base}/webhooks/{created['id']}/rotate-secret", headers=headers)
    )
    new_key = assert_success(
        await api.http.post(f"{base}/keys", json={"name": "name-marker-77ab"}, headers=headers), 201
    )
    secrets_ = [
        created["secret"],
        rotated["secret"],
        new_key["key"],
        team.secret_key,
        team.publishable_key,
    ]
    # Secrets where they do not belong: in query values, query names, and the path.
    await api.http.get(
        f"{base}/webhooks",
        params={"limit": "3", "token": team.secret_key, "q": "value-marker-9f2d"},
        headers=headers,
    )
    await api.http.get(f"{base}/webhooks?{rotated['secret']}", headers=headers)
    await api.http.get(f"{base}/webhooks/{created['secret']}", headers=headers)
    await api.http.get(f"/api/v1/{new_key['key']}/x", headers=bearer(new_key["key"]))
    await api.http.get("/api/v1/events", headers=bearer(team.publishable_key))
    await container.request_log.flush()

    stored = await rows(container)
    assert len(stored) >= 8
    table = "\n".join(str(v) for row in stored for v in row.values())
    everything = await dump_database(container)
    for secret in secrets_:
        assert secret not in table
        assert secret.rsplit("_", 1)[1] not in table  # not even its random part
        assert secret not in everything
    for marker in ("body-marker-5c1e", "name-marker-77ab", "value-marker-9f2d", "=3"):
        assert marker not in table
    paths = [r["path"] for r in stored]
    assert f"{base}/webhooks?limit&token&q" in paths
    assert f"{base}/webhooks?[redacted]" in paths
    assert f"{base}/webhooks/[redacted]" in paths
    assert "/api/v1/[redacted]/x" in paths
    assert {r["key_prefix"] for r in stored} == {
        team.secret_key[:12],
        new_key["key"][:12],
        team.publishable_key[:12],
    }


async def test_unauthenticated_requests_are_not_recorded(
    api: Api, container: Container, team: CreatedTeam
) -> None:
    url = f"/api/v1/teams/{team.team.id}/webhooks"
    assert_error(await api.http.get(url), 401, "authentication_error", "authentication_required")
    assert_error(
        await api.http.get(url, headers=bearer("sk_test_" + "Z" * 32)),
        401,
        "authentication_error",
        "authentication_required",
    )
    # Outside /api/: never recorded, key or not.
    assert (await api.http.get("/healthz", headers=bearer(team.secret_key))).status_code == 200
    await api.http.get("/api/v1/openapi.json", headers=bearer(team.secret_key))
    await container.request_log.flush()
    assert await rows(container) == []
    assert container.request_log.buffered == 0


async def test_refusals_of_a_known_key_are_recorded_for_its_own_team(
    api: Api,
    container: Container,
    team: CreatedTeam,
    other_team: CreatedTeam,
) -> None:
    base = f"/api/v1/teams/{team.team.id}"
    secret = bearer(team.secret_key)
    wrong_team = await api.http.get(f"/api/v1/teams/{other_team.team.id}/webhooks", headers=secret)
    assert wrong_team.status_code == 403
    publishable = await api.http.get(f"{base}/webhooks", headers=bearer(team.publishable_key))
    assert publishable.status_code == 403
    missing = await api.http.get(f"{base}/webhooks/whk_{'x' * 20}", headers=secret)
    assert missing.status_code == 404
    invalid = await api.http.post(f"{base}/webhooks", content=b"{nope", headers=secret)
    assert invalid.status_code == 400
    not_allowed = await api.http.put(f"{base}/webhooks", headers=secret)
    assert not_allowed.status_code == 405

    entries = await api.listed(team)
    seen = [(e["method"], e["status"], e["keyPrefix"], e["requestId"]) for e in entries]
    assert seen == [
        ("PUT", 405, team.secret_key[:12], not_allowed.headers["x-request-id"]),
        ("POST", 400, team.secret_key[:12], invalid.headers["x-request-id"]),
        ("GET", 404, team.secret_key[:12], missing.headers["x-request-id"]),
        ("GET", 403, team.publishable_key[:12], publishable.headers["x-request-id"]),
        ("GET", 403, team.secret_key[:12], wrong_team.headers["x-request-id"]),
    ]
    assert entries[-1]["path"] == f"/api/v1/teams/{other_team.team.id}/webhooks"
    # The other team sees nothing of it.
    assert await api.listed(other_team) == []


async def test_rate_limited_requests_are_recorded(
    settings: Settings, container: Container, team: CreatedTeam
) -> None:
    container.key_limiter = key_limiter(container, 2, 3600)
    app = create_app(settings, container=container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        url = f"/api/v1/teams/{team.team.id}/webhooks"
        statuses = [(await http.get(url, headers=bearer(team.secret_key))).status_code]
        statuses.append((await http.get(url, headers=bearer(team.secret_key))).status_code)
        statuses.append((await http.get(url, headers=bearer(team.secret_key))).status_code)
    assert statuses == [200, 200, 429]
    await container.request_log.flush()
    assert [r["status"] for r in await rows(container)] == [200, 200, 429]


async def test_a_server_error_is_recorded_as_500(
    settings: Settings, container: Container, team: CreatedTeam
) -> None:
    app = create_app(settings, container=container)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/boom", boom)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://testserver",
    ) as http:
        response = await http.get("/api/v1/boom", headers=bearer(team.secret_key))
    assert response.status_code == 500
    await container.request_log.flush()
    (row,) = await rows(container)
    assert (row["method"], row["path"], row["status"]) == ("GET", "/api/v1/boom", 500)


async def test_reading_the_log_is_not_recorded_but_its_errors_are(
    api: Api, container: Container, team: CreatedTeam
) -> None:
    headers = bearer(team.secret_key)
    for _ in range(3):
        assert_success(await api.http.get(logs_url(team), headers=headers))
    assert_success(await api.http.get(logs_url(team), params={"after": 0}, headers=headers))
    bad = await api.http.get(logs_url(team), params={"status": "oops"}, headers=headers)
    assert bad.status_code == 400
    entries = await api.listed(team)
    assert [(e["path"], e["status"]) for e in entries] == [
        (f"/api/v1/teams/{team.team.id}/logs?status", 400)
    ]


async def test_the_status_endpoint_and_the_catalog_are_recorded_for_publishable_keys(
    api: Api, team: CreatedTeam
) -> None:
    key = bearer(team.publishable_key)
    assert_success(await api.http.get("/api/v1/status", headers=key))
    assert_success(await api.http.get("/api/v1/events?category=tickets", headers=key))
    entries = await api.listed(team)
    assert [(e["path"], e["keyPrefix"]) for e in entries] == [
        ("/api/v1/events?category", team.publishable_key[:12]),
        ("/api/v1/status", team.publishable_key[:12]),
    ]


# -- the listing --------------------------------------------------------------------------------


async def make_traffic(api: Api, team: CreatedTeam) -> list[tuple[str, int]]:
    """Eight requests of several methods and statuses, oldest first."""
    headers = bearer(team.secret_key)
    base = f"/api/v1/teams/{team.team.id}/webhooks"
    done: list[tuple[str, int]] = []
    created = await api.http.post(
        base, json={"name": "a", "url": "https://example.com/h", "events": "*"}, headers=headers
    )
    done.append(("POST", created.status_code))
    webhook_id = created.json()["data"]["id"]
    for response in (
        await api.http.get(base, headers=headers),
        await api.http.get(f"{base}/{webhook_id}", headers=headers),
        await api.http.get(f"{base}/whk_{'0' * 20}", headers=headers),
        await api.http.patch(f"{base}/{webhook_id}", json={"name": "b"}, headers=headers),
        await api.http.post(base, json={}, headers=headers),
        await api.http.delete(f"{base}/{webhook_id}", headers=headers),
        await api.http.delete(f"{base}/{webhook_id}", headers=headers),
    ):
        done.append((response.request.method, response.status_code))
    assert done == [
        ("POST", 201),
        ("GET", 200),
        ("GET", 200),
        ("GET", 404),
        ("PATCH", 200),
        ("POST", 400),
        ("DELETE", 200),
        ("DELETE", 404),
    ]
    return done


async def test_filters_by_method_status_and_class(api: Api, team: CreatedTeam) -> None:
    done = await make_traffic(api, team)
    newest_first = list(reversed(done))

    async def shown(**params: str | int) -> list[tuple[str, int]]:
        return [(e["method"], e["status"]) for e in await api.listed(team, **params)]

    assert await shown() == newest_first
    assert await shown(method="post") == [d for d in newest_first if d[0] == "POST"]
    assert await shown(method="Delete") == [("DELETE", 404), ("DELETE", 200)]
    assert await shown(method="PUT") == []
    assert await shown(status="404") == [("DELETE", 404), ("GET", 404)]
    assert await shown(status="4xx") == [("DELETE", 404), ("POST", 400), ("GET", 404)]
    assert await shown(status="2XX") == [d for d in newest_first if d[1] < 300]
    assert await shown(status="5xx") == []
    assert await shown(method="GET", status="2xx") == [("GET", 200), ("GET", 200)]
    assert await shown(method=" ", status="") == newest_first  # empty means no filter


async def test_after_returns_newer_entries_oldest_first(api: Api, team: CreatedTeam) -> None:
    done = await make_traffic(api, team)
    entries = await api.listed(team)
    ids = [e["id"] for e in reversed(entries)]
    assert [(e["method"], e["status"]) for e in reversed(entries)] == done
    newer = await api.listed(team, after=ids[4])
    assert [e["id"] for e in newer] == ids[5:]
    assert [e["id"] for e in await api.listed(team, after=0)] == ids
    assert await api.listed(team, after=ids[-1]) == []
    assert [e["id"] for e in await api.listed(team, after=ids[2], status="4xx")] == [
        ids[3],
        ids[5],
        ids[7],
    ]
    # Following: poll with the highest id seen; new requests appear, the polls do not.
    await api.http.get(f"/api/v1/teams/{team.team.id}/keys", headers=bearer(team.secret_key))
    (fresh,) = await api.listed(team, after=ids[-1])
    assert fresh["path"] == f"/api/v1/teams/{team.team.id}/keys"
    assert await api.listed(team, after=fresh["id"]) == []


async def pages(
    api: Api, team: CreatedTeam, **params: str | int
) -> tuple[list[int], list[dict[str, Any]]]:
    ids: list[int] = []
    metas: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(20):
        query = dict(params)
        if cursor is not None:
            query["cursor"] = cursor
        response = await api.http.get(logs_url(team), params=query, headers=bearer(team.secret_key))
        data = assert_success(response)
        meta = response.json()["meta"]["pagination"]
        metas.append(meta)
        ids.extend(e["id"] for e in data)
        cursor = meta["nextCursor"]
        if cursor is None:
            return ids, metas
    raise AssertionError("the pages never ended")


async def test_pagination_across_pages_in_both_directions(
    api: Api, container: Container, team: CreatedTeam
) -> None:
    await make_traffic(api, team)
    await container.request_log.flush()
    everything = [e["id"] for e in await api.listed(team, limit=100)]
    assert len(everything) == 8

    ids, metas = await pages(api, team, limit=3)
    assert ids == everything
    assert [m["hasMore"] for m in metas] == [True, True, False]
    assert all(m["limit"] == 3 for m in metas)
    assert metas[-1]["nextCursor"] is None

    ids, metas = await pages(api, team, limit=3, after=0)
    assert ids == sorted(everything)
    assert [m["hasMore"] for m in metas] == [True, True, False]

    ids, _ = await pages(api, team, limit=2, status="4xx")
    assert len(ids) == 3
    assert ids == sorted(ids, reverse=True)

    ids, metas = await pages(api, team, limit=8)
    assert ids == everything
    assert metas == [{"limit": 8, "hasMore": False, "nextCursor": None}]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"method": "FETCH"}, "method"),
        ({"method": "G"}, "method"),
        ({"method": "X" * 17}, "method"),
        ({"status": "abc"}, "status"),
        ({"status": "600"}, "status"),
        ({"status": "099"}, "status"),
        ({"status": "20"}, "status"),
        ({"status": "6xx"}, "status"),
        ({"status": "4x"}, "status"),
        ({"status": "123456789"}, "status"),
        ({"after": "-1"}, "after"),
        ({"after": "abc"}, "after"),
        ({"after": "1.5"}, "after"),
        ({"after": str(2**63)}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
        ({"cursor": "x" * 600}, "cursor"),
        ({"cursor": LogCursor(5, ascending=True).encode()}, "cursor"),
        ({"cursor": LogCursor(5, ascending=False).encode(), "after": "1"}, "cursor"),
    ],
)
async def test_invalid_parameters_are_400_with_param(
    api: Api, team: CreatedTeam, params: dict[str, str], param: str
) -> None:
    response = await api.http.get(logs_url(team), params=params, headers=bearer(team.secret_key))
    assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param=param)


@pytest.mark.parametrize(
    "raw",
    [
        b"rl:x:5",
        b"rl:d:",
        b"rl:d:-5",
        b"rl:d:99999999999999999999",
        b"rl:d:9223372036854775808",
        b"2026-01-01T00:00:00+00:00|whk_x",  # a webhook list's cursor
        "rl:d:\u00e9".encode(),  # not ASCII
    ],
)
async def test_forged_cursors_are_400(api: Api, team: CreatedTeam, raw: bytes) -> None:
    token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = await api.http.get(
        logs_url(team), params={"cursor": token}, headers=bearer(team.secret_key)
    )
    assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="cursor")


async def test_another_teams_key_and_publishable_keys_get_403_and_no_key_401(
    api: Api, team: CreatedTeam, other_team: CreatedTeam
) -> None:
    url = logs_url(team)
    assert_error(
        await api.http.get(url, headers=bearer(other_team.secret_key)),
        403,
        "authorization_error",
        "insufficient_permissions",
        message="This API key does not have access to this team",
    )
    assert_error(
        await api.http.get(url, headers=bearer(team.publishable_key)),
        403,
        "authorization_error",
        "insufficient_permissions",
        message="Secret key required for this endpoint",
    )
    assert_error(await api.http.get(url), 401, "authentication_error", "authentication_required")


async def test_the_listing_answers_503_when_the_database_fails(
    api: Api,
    container: Container,
    team: CreatedTeam,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(team_id: str, query: RequestLogQuery) -> RequestLogPage:
        raise StoreError("database read failed: down")

    monkeypatch.setattr(container.request_log_store, "list", broken)
    response = await api.http.get(logs_url(team), headers=bearer(team.secret_key))
    assert_error(response, 503, "api_error", "service_unavailable")
    assert response.headers["retry-after"] == "5"


# -- the recorder -------------------------------------------------------------------------------


class GatedStore:
    """A request log store whose writes wait until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.written: list[RequestLogEntry] = []
        self.batches: list[int] = []
        self.fail_next = 0

    async def insert(self, entries: Sequence[RequestLogEntry]) -> None:
        self.started.set()
        await self.gate.wait()
        if self.fail_next:
            self.fail_next -= 1
            raise StoreError("database write failed: down")
        self.batches.append(len(entries))
        self.written.extend(entries)

    async def list(self, team_id: str, query: RequestLogQuery) -> RequestLogPage:
        raise NotImplementedError

    async def purge(self, *, before: datetime) -> int:
        raise NotImplementedError


def sample(n: int) -> RequestLogEntry:
    return RequestLogEntry(
        team_id="t",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        method="GET",
        path=f"/api/v1/x{n}",
        status=200,
        duration_ms=n,
        request_id=f"req_{n}",
        key_id="key_x",
        key_prefix="sk_test_abcd",
    )


async def wait_until(condition: Any, what: str) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - bounded polling of another task's work
            await asyncio.sleep(0.01)
    assert condition(), what


async def test_n_requests_become_n_rows_written_in_the_background(
    api: Api, container: Container, team: CreatedTeam
) -> None:
    n = 25
    url = f"/api/v1/teams/{team.team.id}/webhooks"
    answers = await asyncio.gather(
        *(api.http.get(url, headers=bearer(team.secret_key)) for _ in range(n))
    )
    assert all(a.status_code == 200 for a in answers)
    # No explicit flush: the recorder's own task writes them within its interval.
    async with asyncio.timeout(WAIT):
        while len(await rows(container)) < n:  # noqa: ASYNC110 - bounded polling of the table
            await asyncio.sleep(0.02)
    await wait_until(lambda: container.request_log.written == n, "the writer counted them")
    stored = await rows(container)
    assert {r["request_id"] for r in stored} == {a.headers["x-request-id"] for a in answers}
    assert container.request_log.written == n
    assert container.request_log.dropped == 0
    assert len(stored) == n


async def test_requests_do_not_wait_for_the_write(
    api: Api, container: Container, team: CreatedTeam
) -> None:
    store = GatedStore()
    recorder = RequestLogRecorder(store, interval=0.01)
    container.request_log = recorder
    url = f"/api/v1/teams/{team.team.id}/webhooks"
    try:
        first = await api.http.get(url, headers=bearer(team.secret_key))
        assert first.status_code == 200
        # The background task has started writing and is stuck in the database...
        async with asyncio.timeout(WAIT):
            await store.started.wait()
        # ...and requests keep being answered meanwhile.
        more = [await api.http.get(url, headers=bearer(team.secret_key)) for _ in range(5)]
        assert all(r.status_code == 200 for r in more)
        assert store.written == []
        assert recorder.buffered == 5
        store.gate.set()
        await wait_until(lambda: len(store.written) == 6, "all six written")
        assert [e.request_id for e in store.written] == [
            r.headers["x-request-id"] for r in [first, *more]
        ]
    finally:
        store.gate.set()
        await recorder.aclose()


async def test_a_full_batch_is_written_without_waiting_for_the_interval() -> None:
    store = GatedStore()
    store.gate.set()
    recorder = RequestLogRecorder(store, interval=3600, batch_size=4)
    try:
        for n in range(3):
            recorder.record(sample(n))
        for _ in range(20):  # let the writer task run: it waits for a batch or the hour
            await asyncio.sleep(0)
        assert store.written == []
        recorder.record(sample(3))
        await wait_until(lambda: len(store.written) == 4, "the full batch written")
        assert store.batches == [4]
    finally:
        await recorder.aclose()


async def test_batches_are_bounded_and_in_order() -> None:
    store = GatedStore()
    store.gate.set()
    recorder = RequestLogRecorder(store, interval=3600, batch_size=4)
    for n in range(10):
        recorder.record(sample(n))
    await recorder.flush()
    assert store.batches[:2] == [4, 4]
    assert sum(store.batches) == 10
    assert [e.duration_ms for e in store.written] == list(range(10))
    await recorder.aclose()


async def test_a_full_buffer_drops_and_counts_and_warns_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = GatedStore()
    clock = [100.0]
    recorder = RequestLogRecorder(
        store, interval=3600, batch_size=100, capacity=3, monotonic=lambda: clock[0]
    )
    caplog.set_level(logging.WARNING, logger="cstar.server.services.request_log")
    for n in range(5):
        recorder.record(sample(n))  # never raises
    assert recorder.buffered == 3
    assert recorder.dropped == 2
    store.gate.set()
    await recorder.flush()
    recorder._report_drops()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "dropped 2 entries" in warnings[0].getMessage()

    for n in range(5):
        recorder.record(sample(n))
    await recorder.flush()
    recorder._report_drops()  # within the interval of the last warning: not yet
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    clock[0] += 3600
    recorder._report_drops()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "dropped 2 entries (4 since start)" in warnings[1].getMessage()
    assert [e.duration_ms for e in store.written] == [0, 1, 2, 0, 1, 2]
    await recorder.aclose()


async def test_close_writes_what_is_buffered_and_later_entries_are_dropped() -> None:
    store = GatedStore()
    store.gate.set()
    recorder = RequestLogRecorder(store, interval=3600)
    for n in range(3):
        recorder.record(sample(n))
    assert store.written == []
    await recorder.aclose()
    assert [e.duration_ms for e in store.written] == [0, 1, 2]
    recorder.record(sample(9))
    assert recorder.dropped == 1
    await recorder.aclose()  # twice is fine
    assert len(store.written) == 3


async def test_closing_an_unused_recorder_writes_nothing() -> None:
    store = GatedStore()
    recorder = RequestLogRecorder(store)
    await recorder.aclose()
    assert not store.started.is_set()


async def test_the_container_flushes_on_close(
    settings: Settings, container: Container, team: CreatedTeam
) -> None:
    from cstar.server.bootstrap import open_container

    opened = await open_container(settings, bootstrap=False)
    # An interval of an hour: only closing can write the entry.
    opened.request_log = RequestLogRecorder(opened.request_log_store, interval=3600)
    app = create_app(settings, container=opened)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            response = await http.get(
                f"/api/v1/teams/{team.team.id}/webhooks", headers=bearer(team.secret_key)
            )
        assert response.status_code == 200
        assert await rows(container) == []
    finally:
        await opened.aclose()
    page = await container.request_log_store.list(team.team.id, RequestLogQuery(limit=10))
    assert [e.request_id for e in page.items] == [response.headers["x-request-id"]]


async def test_failed_writes_are_counted_and_an_outage_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = GatedStore()
    store.gate.set()
    store.fail_next = 2
    recorder = RequestLogRecorder(store, interval=3600)
    with caplog.at_level(logging.INFO, logger="cstar.server.services.request_log"):
        for duration in (1, 2):
            recorder.record(sample(duration))
            await recorder.flush()
        assert recorder.dropped == 2
        recorder.record(sample(3))
        await recorder.flush()
    assert [e.duration_ms for e in store.written] == [3]
    assert recorder.written == 1
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert "the database (request log) is unavailable" in lines[0]
    assert "reachable again" in lines[1]
    assert "dropped 2 request log entries while the database was unavailable" in lines[2]
    await recorder.aclose()


async def test_an_unexpected_write_error_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(GatedStore):
        async def insert(self, entries: Sequence[RequestLogEntry]) -> None:
            raise OverflowError("a bug")

    recorder = RequestLogRecorder(Broken(), interval=3600)
    recorder.record(sample(1))
    with caplog.at_level(logging.ERROR, logger="cstar.server.services.request_log"):
        await recorder.flush()
    assert recorder.dropped == 1
    assert "could not write 1 request log entries" in caplog.text
    await recorder.aclose()


# -- what a path becomes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "shown"),
    [
        ("/api/v1/events", b"", "/api/v1/events"),
        ("/api/v1/events", b"category=tickets&category=x", "/api/v1/events?category"),
        ("/api/v1/x", b"a=1&b&c=&a=2", "/api/v1/x?a&b&c"),
        ("/api/v1/x", b"=novalue", "/api/v1/x"),
        ("/api/v1/caf\u00e9 bar", b"", "/api/v1/caf%C3%A9%20bar"),
        ("/api/v1/a\x00b%", b"", "/api/v1/a%00b%25"),
        ("/api/v1/x", b"n%C3%A4me=1", "/api/v1/x?n%C3%A4me"),
        ("/api/v1/x", b"key%3Dsk_test_abcdefgh=1", "/api/v1/x?key%3D[redacted]"),
        ("/api/v1/pre-whsec_abcdefgh-post", b"", "/api/v1/pre-[redacted]-post"),
        ("/api/v1/x", b"PK_LIVE_abcdefgh", "/api/v1/x?[redacted]"),
    ],
)
def test_paths_are_ascii_without_values_or_secrets(path: str, query: bytes, shown: str) -> None:
    assert loggable_path(path, query) == shown


def test_long_paths_and_many_names_are_bounded() -> None:
    shown = loggable_path("/api/" + "a" * 5000)
    assert len(shown) == 2048
    assert shown.endswith("...")
    many = "&".join(f"p{n}=1" for n in range(50)).encode()
    assert loggable_path("/api/x", many) == "/api/x?" + "&".join(f"p{n}" for n in range(20))
    assert loggable_path("/api/x", b"n" * 100 + b"=1") == "/api/x?" + "n" * 64
