"""The request log store (``cstar.server.store.contract.RequestLogStore``) on both backends:
batches, the listing's order, filters and cursors, retention, ids never handed out twice."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cstar.server.bootstrap import Container
from cstar.server.domain.errors import InvalidParameter
from cstar.server.domain.request_logs import (
    LogCursor,
    LoggedRequest,
    RequestLogEntry,
    RequestLogQuery,
    StatusRange,
)
from cstar.server.services.teams import CreatedTeam
from cstar.server.store import request_logs as request_log_module
from cstar.server.store.contract import StoreError
from cstar.server.store.schema import request_logs

#: Has microseconds, so any truncation on the way through the database shows.
T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def entry(
    team_id: str,
    n: int = 0,
    *,
    method: str = "GET",
    status: int = 200,
    created_at: datetime | None = None,
) -> RequestLogEntry:
    return RequestLogEntry(
        team_id=team_id,
        created_at=created_at or T0 + timedelta(seconds=n),
        method=method,
        path=f"/api/v1/teams/{team_id}/webhooks?n{n}",
        status=status,
        duration_ms=n,
        request_id=f"req_{n:024x}",
        key_id="key_" + "a" * 20,
        key_prefix="sk_test_abcd",
    )


async def all_pages(container: Container, team_id: str, query: RequestLogQuery) -> list[int]:
    ids: list[int] = []
    while True:
        page = await container.request_log_store.list(team_id, query)
        ids.extend(e.id for e in page.items)
        if page.next_cursor is None:
            assert not page.has_more
            return ids
        assert page.has_more
        assert len(page.items) == query.limit
        query = RequestLogQuery(
            limit=query.limit,
            method=query.method,
            status=query.status,
            after=query.after,
            cursor=LogCursor.decode(page.next_cursor),
        )


async def test_a_batch_is_stored_field_by_field_newest_first(
    container: Container, team: CreatedTeam
) -> None:
    team_id = team.team.id
    batch = [entry(team_id, n) for n in range(3)]
    await container.request_log_store.insert(batch)
    await container.request_log_store.insert([])  # nothing to do
    page = await container.request_log_store.list(team_id, RequestLogQuery(limit=10))
    assert not page.has_more
    assert page.next_cursor is None
    assert [e.request_id for e in page.items] == [b.request_id for b in reversed(batch)]
    ids = [e.id for e in page.items]
    assert ids == sorted(ids, reverse=True)
    for stored, written in zip(page.items, reversed(batch), strict=True):
        assert isinstance(stored, LoggedRequest)
        assert (
            RequestLogEntry(
                team_id=stored.team_id,
                created_at=stored.created_at,
                method=stored.method,
                path=stored.path,
                status=stored.status,
                duration_ms=stored.duration_ms,
                request_id=stored.request_id,
                key_id=stored.key_id,
                key_prefix=stored.key_prefix,
            )
            == written
        )


async def test_teams_see_only_their_own_entries(
    container: Container, team: CreatedTeam, other_team: CreatedTeam
) -> None:
    await container.request_log_store.insert(
        [entry(team.team.id, 1), entry(other_team.team.id, 2), entry(team.team.id, 3)]
    )
    mine = await container.request_log_store.list(team.team.id, RequestLogQuery(limit=10))
    theirs = await container.request_log_store.list(other_team.team.id, RequestLogQuery(limit=10))
    assert [e.duration_ms for e in mine.items] == [3, 1]
    assert [e.duration_ms for e in theirs.items] == [2]


async def test_filters_by_method_exact_status_and_status_class(
    container: Container, team: CreatedTeam
) -> None:
    team_id = team.team.id
    specs = [("GET", 200), ("POST", 201), ("GET", 404), ("DELETE", 404), ("POST", 400)]
    await container.request_log_store.insert(
        [entry(team_id, n, method=m, status=s) for n, (m, s) in enumerate(specs)]
    )

    async def durations(query: RequestLogQuery) -> list[int]:
        page = await container.request_log_store.list(team_id, query)
        return [e.duration_ms for e in page.items]

    assert await durations(RequestLogQuery(limit=10, method="GET")) == [2, 0]
    assert await durations(RequestLogQuery(limit=10, status=StatusRange(404, 404))) == [3, 2]
    assert await durations(RequestLogQuery(limit=10, status=StatusRange(400, 499))) == [4, 3, 2]
    assert await durations(RequestLogQuery(limit=10, status=StatusRange(200, 299))) == [1, 0]
    assert await durations(RequestLogQuery(limit=10, status=StatusRange(500, 599))) == []
    both = RequestLogQuery(limit=10, method="POST", status=StatusRange(400, 499))
    assert await durations(both) == [4]


async def test_pages_newest_first_and_after_oldest_first(
    container: Container, team: CreatedTeam
) -> None:
    team_id = team.team.id
    await container.request_log_store.insert([entry(team_id, n) for n in range(7)])
    everything = await container.request_log_store.list(team_id, RequestLogQuery(limit=100))
    ids = [e.id for e in everything.items]
    assert len(ids) == 7

    assert await all_pages(container, team_id, RequestLogQuery(limit=3)) == ids
    assert await all_pages(container, team_id, RequestLogQuery(limit=7)) == ids
    oldest_first = sorted(ids)
    assert await all_pages(container, team_id, RequestLogQuery(limit=2, after=0)) == oldest_first
    third = oldest_first[2]
    assert (
        await all_pages(container, team_id, RequestLogQuery(limit=2, after=third))
        == oldest_first[3:]
    )
    newest = oldest_first[-1]
    tail = await container.request_log_store.list(team_id, RequestLogQuery(limit=5, after=newest))
    assert tail.items == []
    assert not tail.has_more
    assert tail.next_cursor is None


async def test_a_cursor_belongs_to_its_direction() -> None:
    down = LogCursor(5, ascending=False)
    up = LogCursor(5, ascending=True)
    assert LogCursor.decode(down.encode()) == down
    assert LogCursor.decode(up.encode()) == up
    with pytest.raises(InvalidParameter) as raised:
        RequestLogQuery(limit=1, after=3, cursor=down)
    assert raised.value.param == "cursor"
    with pytest.raises(InvalidParameter):
        RequestLogQuery(limit=1, cursor=up)


async def test_concurrent_batches_take_contiguous_ids(
    container: Container, team: CreatedTeam
) -> None:
    """Several API processes flush at once: each batch's ids are drawn together and commit in
    order (an advisory lock on PostgreSQL, the single writer on SQLite)."""
    team_id = team.team.id
    batches = [[entry(team_id, b * 100 + n) for n in range(40)] for b in range(5)]
    await asyncio.gather(*(container.request_log_store.insert(b) for b in batches))
    page = await container.request_log_store.list(team_id, RequestLogQuery(limit=500, after=0))
    assert len(page.items) == 200
    by_batch: dict[int, list[int]] = {}
    for item in page.items:
        by_batch.setdefault(item.duration_ms // 100, []).append(item.id)
    for ids in by_batch.values():
        assert ids == list(range(ids[0], ids[0] + 40))
        # ... and within a batch, in the order given.
    for item, following in zip(page.items, page.items[1:], strict=False):
        if item.duration_ms // 100 == following.duration_ms // 100:
            assert following.duration_ms == item.duration_ms + 1


async def test_purge_deletes_what_is_older_than_the_cut_off_in_chunks(
    container: Container, team: CreatedTeam, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(request_log_module, "PURGE_CHUNK", 3)
    team_id = team.team.id
    now = container.clock()
    old = [entry(team_id, n, created_at=now - timedelta(days=40, seconds=-n)) for n in range(8)]
    new = [entry(team_id, 100 + n, created_at=now - timedelta(days=1)) for n in range(2)]
    await container.request_log_store.insert(old + new)
    removed = await container.request_log_store.purge(before=now - timedelta(days=30))
    assert removed == 8
    left = await container.request_log_store.list(team_id, RequestLogQuery(limit=100))
    assert sorted(e.duration_ms for e in left.items) == [100, 101]
    assert await container.request_log_store.purge(before=now - timedelta(days=30)) == 0


async def test_purging_everything_then_writing_never_reuses_an_id(
    container: Container, team: CreatedTeam
) -> None:
    """A follower holding ``after=<id>`` must see the next entry even if retention emptied the
    table meanwhile (SQLite: AUTOINCREMENT, not a reusable rowid)."""
    team_id = team.team.id
    await container.request_log_store.insert([entry(team_id, n) for n in range(3)])
    first = await container.request_log_store.list(team_id, RequestLogQuery(limit=10))
    highest = first.items[0].id
    assert await container.request_log_store.purge(before=T0 + timedelta(days=1)) == 3
    assert await container.request_log_store.purge(before=T0 + timedelta(days=1)) == 0  # empty
    await container.request_log_store.insert([entry(team_id, 9)])
    followed = await container.request_log_store.list(
        team_id, RequestLogQuery(limit=10, after=highest)
    )
    assert [e.duration_ms for e in followed.items] == [9]


async def test_the_dispatcher_purges_request_logs_with_the_delivery_retention(
    container: Container, team: CreatedTeam
) -> None:
    team_id = team.team.id
    now = container.clock()
    retention = timedelta(seconds=container.settings.log_retention)
    await container.request_log_store.insert(
        [
            entry(team_id, 1, created_at=now - retention - timedelta(hours=1)),
            entry(team_id, 2, created_at=now - retention + timedelta(hours=1)),
        ]
    )
    await container.dispatcher().purge_once()
    left = await container.request_log_store.list(team_id, RequestLogQuery(limit=10))
    assert [e.duration_ms for e in left.items] == [2]


async def test_a_failing_purge_is_logged_and_the_other_still_runs(
    container: Container,
    team: CreatedTeam,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    team_id = team.team.id
    old = container.clock() - timedelta(days=365)
    await container.request_log_store.insert([entry(team_id, 1, created_at=old)])

    async def broken(**_: object) -> int:
        raise StoreError("database purge failed: down")

    dispatcher = container.dispatcher()
    monkeypatch.setattr(container.delivery_store, "purge", broken)
    with caplog.at_level(logging.ERROR):
        await dispatcher.purge_once()
    assert "purging old delivery logs failed" in caplog.text
    left = await container.request_log_store.list(team_id, RequestLogQuery(limit=10))
    assert left.items == []

    await container.request_log_store.insert([entry(team_id, 2, created_at=old)])
    monkeypatch.setattr(container.request_log_store, "purge", broken)
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        await dispatcher.purge_once()
    assert "purging old request log entries failed" in caplog.text


async def test_the_table_is_indexed_by_team_and_id(container: Container) -> None:
    def indexes(conn: sa.Connection) -> list[list[str | None]]:
        return [ix["column_names"] for ix in sa.inspect(conn).get_indexes(request_logs.name)]

    assert ["team_id", "id"] in await container.database.read(indexes)
