"""The storage contract (``cstar.server.store.contract.Store``), method by method.

Every test takes the ``container`` fixture, so the whole suite runs once on SQLite and once on
PostgreSQL: the two backends must answer every call the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from sqlalchemy.exc import SQLAlchemyError

from cstar.server.bootstrap import Container
from cstar.server.domain.ids import new_key_id, new_team_id, new_webhook_id
from cstar.server.domain.keys import generate_key
from cstar.server.domain.models import ApiKey, KeyKind, KeyMode, Team, Webhook
from cstar.server.domain.pagination import Cursor, Page, PageRequest
from cstar.server.security.secretbox import SecretBox
from cstar.server.services.teams import key_record
from cstar.server.store.contract import RevokeOutcome, StoreError, WebhookChanges
from cstar.server.store.sql import SqlStore
from tests.contract.fan_out import subscribed

T = TypeVar("T", ApiKey, Webhook)

#: Has microseconds, so any truncation on the way through the database shows.
T0 = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- builders ---------------------------------------------------------------------------------


def make_team(name: str = "Acme Support", created_at: datetime = T0) -> Team:
    return Team(id=new_team_id(), name=name, created_at=created_at)


def make_key(
    team_id: str,
    kind: KeyKind = KeyKind.SECRET,
    *,
    mode: KeyMode = KeyMode.TEST,
    created_at: datetime = T0,
    name: str | None = None,
) -> ApiKey:
    return key_record(team_id, generate_key(kind, mode), name or f"{kind} key", lambda: created_at)


def make_webhook(
    box: SecretBox,
    team_id: str,
    *,
    events: tuple[str, ...] = ("ticket.created",),
    is_active: bool = True,
    created_at: datetime = T0,
    name: str = "My Webhook",
    url: str = "https://example.com/webhook",
    secret: str = "whsec_initial",
) -> Webhook:
    return Webhook(
        id=new_webhook_id(),
        team_id=team_id,
        name=name,
        url=url,
        events=events,
        is_active=is_active,
        secret_ciphertext=box.encrypt(secret),
        created_at=created_at,
        updated_at=created_at,
    )


async def new_team(
    store: SqlStore,
    *,
    secret_keys: int = 1,
    publishable_keys: int = 1,
    created_at: datetime = T0,
) -> tuple[Team, list[ApiKey]]:
    team = make_team(created_at=created_at)
    keys = [make_key(team.id, KeyKind.SECRET) for _ in range(secret_keys)]
    keys += [make_key(team.id, KeyKind.PUBLISHABLE) for _ in range(publishable_keys)]
    await store.create_team(team, keys)
    return team, keys


async def walk(fetch: Callable[[PageRequest], Awaitable[Page[T]]], limit: int) -> list[T]:
    """Follow ``next_cursor`` from the first page to the last, checking each page's shape."""
    seen: list[T] = []
    request = PageRequest(limit=limit)
    for _ in range(1000):
        page = await fetch(request)
        assert len(page.items) <= limit
        seen.extend(page.items)
        if not page.has_more:
            assert page.next_cursor is None
            return seen
        assert len(page.items) == limit, "a page that is not the last must be full"
        assert page.next_cursor is not None
        request = PageRequest(limit=limit, after=Cursor.decode(page.next_cursor))
    raise AssertionError("pagination never ended")


def newest_first(items: Sequence[T]) -> list[T]:
    return sorted(items, key=lambda i: (i.created_at, i.id), reverse=True)


def assert_utc(moment: datetime | None) -> None:
    assert moment is not None
    assert moment.tzinfo is not None
    assert moment.utcoffset() == timedelta(0)


# -- operator metadata ------------------------------------------------------------------------


async def test_ping_answers(container: Container) -> None:
    await container.store.ping()


async def test_get_meta_of_a_missing_key_is_none(container: Container) -> None:
    assert await container.store.get_meta("no-such-key") is None


async def test_put_meta_if_absent_keeps_the_first_value(container: Container) -> None:
    store = container.store
    assert await store.put_meta_if_absent("install_id", "first") == "first"
    assert await store.get_meta("install_id") == "first"
    assert await store.put_meta_if_absent("install_id", "second") == "first"
    assert await store.put_meta_if_absent("install_id", "third") == "first"
    assert await store.get_meta("install_id") == "first"
    # Keys are independent of one another.
    assert await store.put_meta_if_absent("other", "x") == "x"
    assert await store.get_meta("install_id") == "first"


async def test_concurrent_put_meta_if_absent_agree_on_one_winner(container: Container) -> None:
    store = container.store
    values = [f"value-{i}" for i in range(10)]
    results = await asyncio.gather(*(store.put_meta_if_absent("race", v) for v in values))
    assert len(set(results)) == 1, results
    winner = results[0]
    assert winner in values
    assert await store.get_meta("race") == winner


# -- teams ------------------------------------------------------------------------------------


async def test_create_team_stores_the_team_and_its_keys(container: Container) -> None:
    store = container.store
    team = make_team("Acme Support", created_at=at(0))
    secret = make_key(team.id, KeyKind.SECRET, mode=KeyMode.LIVE, created_at=at(1))
    publishable = make_key(team.id, KeyKind.PUBLISHABLE, created_at=at(2))
    await store.create_team(team, [secret, publishable])

    got = await store.get_team(team.id)
    assert got == team
    assert got is not None
    assert_utc(got.created_at)
    for key in (secret, publishable):
        assert await store.find_key_by_hash(key.key_hash) == key
        assert await store.get_key(team.id, key.id) == key
    found = await store.find_key_by_hash(secret.key_hash)
    assert found is not None
    assert found.kind is KeyKind.SECRET
    assert found.mode is KeyMode.LIVE
    assert found.is_active
    assert await store.count_teams() == 1


async def test_create_team_without_keys(container: Container) -> None:
    team = make_team()
    await container.store.create_team(team, [])
    assert await container.store.get_team(team.id) == team
    assert await container.store.count_active_keys(team.id, KeyKind.SECRET) == 0


async def test_create_team_is_atomic(container: Container) -> None:
    store = container.store
    existing, keys = await new_team(store)
    team = make_team("Half made")
    fine = make_key(team.id)
    clash = dataclasses.replace(make_key(team.id), key_hash=keys[0].key_hash)

    with pytest.raises(StoreError):
        await store.create_team(team, [fine, clash])

    assert await store.get_team(team.id) is None
    assert await store.find_key_by_hash(fine.key_hash) is None
    assert await store.count_teams() == 1
    assert await store.find_key_by_hash(keys[0].key_hash) == keys[0]
    assert await store.get_team(existing.id) == existing


async def test_get_team_of_an_unknown_id_is_none(container: Container) -> None:
    await new_team(container.store)
    assert await container.store.get_team(new_team_id()) is None


async def test_list_teams_oldest_first_and_count(container: Container) -> None:
    store = container.store
    assert await store.list_teams() == []
    assert await store.count_teams() == 0
    # Inserted out of order, two of them at the same instant (the id breaks the tie).
    created = [
        make_team("c", created_at=at(30)),
        make_team("a", created_at=at(10)),
        make_team("b1", created_at=at(20)),
        make_team("b2", created_at=at(20)),
    ]
    for team in created:
        await store.create_team(team, [])
    expected = sorted(created, key=lambda t: (t.created_at, t.id))
    assert await store.list_teams() == expected
    assert await store.count_teams() == 4


# -- API keys ---------------------------------------------------------------------------------


async def test_find_key_by_hash_of_an_unknown_hash_is_none(container: Container) -> None:
    await new_team(container.store)
    assert await container.store.find_key_by_hash("0" * 64) is None


async def test_insert_key_then_find_it(container: Container) -> None:
    store = container.store
    team, _ = await new_team(store)
    key = make_key(team.id, KeyKind.PUBLISHABLE, mode=KeyMode.LIVE, created_at=at(5))
    await store.insert_key(key)
    assert await store.find_key_by_hash(key.key_hash) == key
    assert await store.get_key(team.id, key.id) == key


async def test_get_key_is_scoped_by_team(container: Container) -> None:
    store = container.store
    team, keys = await new_team(store)
    other, other_keys = await new_team(store)
    assert await store.get_key(team.id, keys[0].id) == keys[0]
    assert await store.get_key(team.id, other_keys[0].id) is None
    assert await store.get_key(other.id, keys[0].id) is None
    assert await store.get_key(team.id, new_key_id()) is None


async def test_list_keys_newest_first_and_paginated(container: Container) -> None:
    store = container.store
    team, _ = await new_team(store, secret_keys=0, publishable_keys=0)
    other, _ = await new_team(store, secret_keys=0, publishable_keys=0)
    # Three keys share one instant (one of them written with another UTC offset), so the order
    # among them comes from the id alone; one instant falls on a whole second.
    tokyo = timezone(timedelta(hours=9))
    stamps = [at(1), at(5), at(5).astimezone(tokyo), at(5), at(3), at(9), at(2), at(0.876544)]
    keys = [make_key(team.id, KeyKind.SECRET, created_at=s) for s in stamps]
    for key in keys:
        await store.insert_key(key)
        await store.insert_key(make_key(other.id, created_at=key.created_at))
    expected = newest_first(keys)

    first = await store.list_keys(team.id, PageRequest(limit=100))
    assert first.items == expected
    assert first.has_more is False
    assert first.next_cursor is None

    assert any(s.microsecond == 0 for s in stamps)
    for limit in (1, 2, 3, 7, 8, 9):
        got = await walk(lambda page: store.list_keys(team.id, page), limit)
        assert [k.id for k in got] == [k.id for k in expected], f"limit={limit}"

    page = await store.list_keys(team.id, PageRequest(limit=3))
    assert page.items == expected[:3]
    assert page.has_more is True


async def test_list_keys_of_a_team_without_keys_is_empty(container: Container) -> None:
    team, _ = await new_team(container.store, secret_keys=0, publishable_keys=0)
    page = await container.store.list_keys(team.id, PageRequest())
    assert page.items == []
    assert page.has_more is False
    assert page.next_cursor is None


async def test_touch_key_sets_last_used_at(container: Container) -> None:
    store = container.store
    team, keys = await new_team(store)
    key = keys[0]
    assert key.last_used_at is None
    now = datetime(2025, 6, 7, 8, 9, 10, 654321, tzinfo=timezone(timedelta(hours=-5)))
    await store.touch_key(key.id, now)

    got = await store.get_key(team.id, key.id)
    assert got == dataclasses.replace(key, last_used_at=now)
    assert got is not None
    assert_utc(got.last_used_at)
    # Only that key was touched.
    assert await store.get_key(team.id, keys[1].id) == keys[1]

    later = now + timedelta(minutes=2)
    await store.touch_key(key.id, later)
    got = await store.find_key_by_hash(key.key_hash)
    assert got is not None
    assert got.last_used_at == later

    await store.touch_key(new_key_id(), later)  # unknown keys are ignored


async def test_count_active_keys_per_kind(container: Container) -> None:
    store = container.store
    team, keys = await new_team(store, secret_keys=3, publishable_keys=2)
    other, _ = await new_team(store, secret_keys=4, publishable_keys=4)
    assert await store.count_active_keys(team.id, KeyKind.SECRET) == 3
    assert await store.count_active_keys(team.id, KeyKind.PUBLISHABLE) == 2

    assert await store.revoke_key(team.id, keys[0].id, at(60)) is RevokeOutcome.REVOKED
    assert await store.revoke_key(team.id, keys[3].id, at(60)) is RevokeOutcome.REVOKED
    assert await store.count_active_keys(team.id, KeyKind.SECRET) == 2
    assert await store.count_active_keys(team.id, KeyKind.PUBLISHABLE) == 1
    assert await store.count_active_keys(other.id, KeyKind.SECRET) == 4
    assert await store.count_active_keys(other.id, KeyKind.PUBLISHABLE) == 4
    assert await store.count_active_keys(new_team_id(), KeyKind.SECRET) == 0


async def test_revoke_key_outcomes(container: Container) -> None:
    store = container.store
    team, (secret_a, secret_b, publishable) = await new_team(
        store, secret_keys=2, publishable_keys=1
    )
    other, other_keys = await new_team(store, secret_keys=3)
    now = at(100)

    assert await store.revoke_key(team.id, new_key_id(), now) is RevokeOutcome.NOT_FOUND
    for key in other_keys:  # another team's keys are not found, and stay untouched
        assert await store.revoke_key(team.id, key.id, now) is RevokeOutcome.NOT_FOUND
        assert await store.get_key(other.id, key.id) == key

    assert await store.revoke_key(team.id, secret_a.id, now) is RevokeOutcome.REVOKED
    assert await store.revoke_key(team.id, secret_a.id, at(200)) is (RevokeOutcome.ALREADY_REVOKED)
    revoked = await store.get_key(team.id, secret_a.id)
    assert revoked == dataclasses.replace(secret_a, revoked_at=now)  # the first revocation counts

    # secret_b is now the only active secret key: it stays.
    assert await store.revoke_key(team.id, secret_b.id, now) is RevokeOutcome.LAST_SECRET_KEY
    assert await store.get_key(team.id, secret_b.id) == secret_b
    # Other teams' active secret keys do not count towards this team's.
    assert await store.count_active_keys(other.id, KeyKind.SECRET) == 3

    # Publishable keys can always be revoked.
    assert await store.revoke_key(team.id, publishable.id, now) is RevokeOutcome.REVOKED
    assert await store.revoke_key(team.id, publishable.id, now) is RevokeOutcome.ALREADY_REVOKED
    assert await store.count_active_keys(team.id, KeyKind.SECRET) == 1


async def test_the_only_secret_key_cannot_be_revoked(container: Container) -> None:
    store = container.store
    team, (secret, publishable) = await new_team(store, secret_keys=1, publishable_keys=1)
    assert await store.revoke_key(team.id, secret.id, at(1)) is RevokeOutcome.LAST_SECRET_KEY
    assert await store.revoke_key(team.id, secret.id, at(2)) is RevokeOutcome.LAST_SECRET_KEY
    got = await store.get_key(team.id, secret.id)
    assert got is not None
    assert got.revoked_at is None
    assert await store.count_active_keys(team.id, KeyKind.SECRET) == 1
    # The team's last publishable key has no such protection.
    assert await store.revoke_key(team.id, publishable.id, at(3)) is RevokeOutcome.REVOKED
    assert await store.count_active_keys(team.id, KeyKind.PUBLISHABLE) == 0


async def test_publishable_key_of_a_team_without_secret_keys_can_be_revoked(
    container: Container,
) -> None:
    store = container.store
    team, (publishable,) = await new_team(store, secret_keys=0, publishable_keys=1)
    assert await store.revoke_key(team.id, publishable.id, at(1)) is RevokeOutcome.REVOKED


async def test_a_revoked_key_is_still_found_by_hash(container: Container) -> None:
    store = container.store
    team, (secret_a, _secret_b, publishable) = await new_team(
        store, secret_keys=2, publishable_keys=1
    )
    now = datetime(2025, 5, 1, 12, 0, 0, 1, tzinfo=UTC)
    for key in (secret_a, publishable):
        assert await store.revoke_key(team.id, key.id, now) is RevokeOutcome.REVOKED
        found = await store.find_key_by_hash(key.key_hash)
        assert found == dataclasses.replace(key, revoked_at=now)
        assert found is not None
        assert not found.is_active
        assert_utc(found.revoked_at)


@pytest.mark.parametrize("secret_keys", [2, 3])
async def test_concurrent_revocations_keep_one_secret_key(
    container: Container, secret_keys: int
) -> None:
    store = container.store
    for round_ in range(5):
        team, keys = await new_team(store, secret_keys=secret_keys, publishable_keys=0)
        outcomes = await asyncio.gather(
            *(store.revoke_key(team.id, key.id, at(round_)) for key in keys)
        )
        assert sorted(o.value for o in outcomes) == sorted(
            [RevokeOutcome.REVOKED.value] * (secret_keys - 1)
            + [RevokeOutcome.LAST_SECRET_KEY.value]
        ), outcomes
        assert await store.count_active_keys(team.id, KeyKind.SECRET) == 1
        survivor = keys[outcomes.index(RevokeOutcome.LAST_SECRET_KEY)]
        got = await store.get_key(team.id, survivor.id)
        assert got is not None
        assert got.is_active


# -- webhooks ---------------------------------------------------------------------------------


async def test_webhook_round_trip_keeps_every_field(container: Container) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    plus_two = timezone(timedelta(hours=2))
    webhook = Webhook(
        id=new_webhook_id(),
        team_id=team.id,
        name="Ticket and article feed",
        url="https://hooks.example.com/cstar?x=1&y=%C3%A9",
        events=("ticket.updated", "*", "article.*", "customer.created"),  # not sorted
        is_active=False,
        secret_ciphertext=box.encrypt("whsec_current"),
        previous_secret_ciphertext=box.encrypt("whsec_previous"),
        previous_secret_expires_at=datetime(2025, 3, 5, 1, 2, 3, 999999, tzinfo=plus_two),
        created_at=datetime(2025, 3, 4, 7, 6, 7, 123456, tzinfo=plus_two),
        updated_at=datetime(2025, 3, 4, 8, 0, 0, 1, tzinfo=plus_two),
    )
    await store.insert_webhook(webhook)

    got = await store.get_webhook(team.id, webhook.id)
    assert got == webhook
    assert got is not None
    assert got.events == ("ticket.updated", "*", "article.*", "customer.created")
    assert isinstance(got.events, tuple)
    assert got.is_active is False
    for moment, original in (
        (got.created_at, webhook.created_at),
        (got.updated_at, webhook.updated_at),
        (got.previous_secret_expires_at, webhook.previous_secret_expires_at),
    ):
        assert_utc(moment)
        assert moment == original
        assert moment is not None
        assert original is not None
        assert moment.microsecond == original.microsecond
    assert box.decrypt(got.secret_ciphertext) == "whsec_current"
    assert got.previous_secret_ciphertext is not None
    assert box.decrypt(got.previous_secret_ciphertext) == "whsec_previous"

    plain = make_webhook(box, team.id, is_active=True)
    await store.insert_webhook(plain)
    got_plain = await store.get_webhook(team.id, plain.id)
    assert got_plain == plain
    assert got_plain is not None
    assert got_plain.is_active is True
    assert got_plain.previous_secret_ciphertext is None
    assert got_plain.previous_secret_expires_at is None


async def test_get_webhook_is_scoped_by_team(container: Container) -> None:
    store = container.store
    team, _ = await new_team(store)
    other, _ = await new_team(store)
    webhook = make_webhook(container.box, team.id)
    await store.insert_webhook(webhook)
    assert await store.get_webhook(team.id, webhook.id) == webhook
    assert await store.get_webhook(other.id, webhook.id) is None
    assert await store.get_webhook(team.id, new_webhook_id()) is None


async def test_list_webhooks_newest_first_with_active_filter(container: Container) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    other, _ = await new_team(store)
    hooks = [
        make_webhook(box, team.id, created_at=at(3), is_active=True),
        make_webhook(box, team.id, created_at=at(1), is_active=False),
        make_webhook(box, team.id, created_at=at(4), is_active=False),
        make_webhook(box, team.id, created_at=at(2), is_active=True),
        make_webhook(box, team.id, created_at=at(0), is_active=True),
    ]
    for hook in hooks:
        await store.insert_webhook(hook)
    await store.insert_webhook(make_webhook(box, other.id, created_at=at(2)))
    await store.insert_webhook(make_webhook(box, other.id, created_at=at(2), is_active=False))

    every = await store.list_webhooks(team.id, active=None, page=PageRequest(limit=100))
    assert every.items == newest_first(hooks)
    assert every.has_more is False
    active = await store.list_webhooks(team.id, active=True, page=PageRequest(limit=100))
    assert active.items == newest_first([h for h in hooks if h.is_active])
    inactive = await store.list_webhooks(team.id, active=False, page=PageRequest(limit=100))
    assert inactive.items == newest_first([h for h in hooks if not h.is_active])

    empty, _ = await new_team(store)
    nothing = await store.list_webhooks(empty.id, active=None, page=PageRequest())
    assert nothing.items == []
    assert nothing.has_more is False


async def test_list_webhooks_pages_through_identical_timestamps(container: Container) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    other, _ = await new_team(store)
    # Nine webhooks created in the same microsecond, with a few around them.
    stamps = [at(5)] * 9 + [at(9), at(1), at(5.000001)]
    hooks = [
        make_webhook(box, team.id, created_at=s, is_active=i % 3 != 0) for i, s in enumerate(stamps)
    ]
    for hook in hooks:
        await store.insert_webhook(hook)
        await store.insert_webhook(make_webhook(box, other.id, created_at=hook.created_at))

    for active in (None, True, False):
        wanted = newest_first([h for h in hooks if active is None or h.is_active == active])

        def fetch(page: PageRequest, active: bool | None = active) -> Awaitable[Page[Webhook]]:
            return store.list_webhooks(team.id, active=active, page=page)

        for limit in (1, 2, 4, 5, len(wanted), 100):
            got = await walk(fetch, limit)
            ids = [h.id for h in got]
            assert len(ids) == len(set(ids)), f"repeated items: active={active} limit={limit}"
            assert ids == [h.id for h in wanted], f"active={active} limit={limit}"
            assert got == wanted


async def test_update_webhook_changes_only_the_given_fields(container: Container) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    webhook = make_webhook(box, team.id, events=("ticket.created", "ticket.closed"))
    await store.insert_webhook(webhook)
    neighbour = make_webhook(box, team.id, name="Neighbour")
    await store.insert_webhook(neighbour)

    expected = webhook
    steps: list[tuple[WebhookChanges, dict[str, Any]]] = [
        (WebhookChanges(name="Renamed"), {"name": "Renamed"}),
        (WebhookChanges(url="https://new.example.com/h"), {"url": "https://new.example.com/h"}),
        (WebhookChanges(is_active=False), {"is_active": False}),
        (WebhookChanges(events=("customer.*", "*")), {"events": ("customer.*", "*")}),
        (WebhookChanges(is_active=True, name="Both"), {"is_active": True, "name": "Both"}),
    ]
    for i, (changes, fields) in enumerate(steps, start=1):
        now = at(1000 + i) + timedelta(microseconds=i)
        updated = await store.update_webhook(team.id, webhook.id, changes, now)
        expected = dataclasses.replace(expected, updated_at=now, **fields)
        assert updated == expected, changes
        assert await store.get_webhook(team.id, webhook.id) == expected
        assert updated is not None
        assert updated.created_at == webhook.created_at
        assert_utc(updated.updated_at)

    assert await store.get_webhook(team.id, neighbour.id) == neighbour


async def test_update_webhook_events_replace_the_subscriptions(container: Container) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    webhook = make_webhook(box, team.id, events=("ticket.created", "customer.*"))
    await store.insert_webhook(webhook)
    assert await subscribed(container, team.id, "ticket.created") == [webhook]
    assert await subscribed(container, team.id, "customer.deleted") == [webhook]
    assert await subscribed(container, team.id, "article.published") == []

    updated = await store.update_webhook(
        team.id, webhook.id, WebhookChanges(events=("article.published",)), at(10)
    )
    assert updated is not None
    assert updated.events == ("article.published",)
    assert await subscribed(container, team.id, "ticket.created") == []
    assert await subscribed(container, team.id, "customer.deleted") == []
    assert await subscribed(container, team.id, "article.published") == [updated]

    # Changing another field leaves the subscriptions alone.
    renamed = await store.update_webhook(team.id, webhook.id, WebhookChanges(name="x"), at(11))
    assert await subscribed(container, team.id, "article.published") == [renamed]


async def test_update_webhook_of_an_unknown_or_foreign_webhook_is_none(
    container: Container,
) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    other, _ = await new_team(store)
    webhook = make_webhook(box, team.id, events=("ticket.created",))
    await store.insert_webhook(webhook)
    changes = WebhookChanges(name="Hijacked", events=("*",), is_active=False)

    assert await store.update_webhook(team.id, new_webhook_id(), changes, at(5)) is None
    assert await store.update_webhook(other.id, webhook.id, changes, at(5)) is None
    assert await store.get_webhook(team.id, webhook.id) == webhook
    assert await subscribed(container, team.id, "customer.created") == []
    assert await subscribed(container, team.id, "ticket.created") == [webhook]
    assert await subscribed(container, other.id, "ticket.created") == []


async def test_rotate_secret_without_grace_drops_the_old_secret(container: Container) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    webhook = make_webhook(box, team.id, secret="whsec_one")
    await store.insert_webhook(webhook)

    # First with a grace period, so there is a previous secret to drop.
    two = box.encrypt("whsec_two")
    graced = await store.rotate_secret(team.id, webhook.id, two, at(3600), at(10))
    assert graced is not None
    assert graced.previous_secret_ciphertext is not None

    three = box.encrypt("whsec_three")
    now = at(20)
    rotated = await store.rotate_secret(team.id, webhook.id, three, None, now)
    expected = dataclasses.replace(
        webhook,
        secret_ciphertext=three,
        previous_secret_ciphertext=None,
        previous_secret_expires_at=None,
        updated_at=now,
    )
    assert rotated == expected
    assert await store.get_webhook(team.id, webhook.id) == expected
    assert box.decrypt(expected.secret_ciphertext) == "whsec_three"


async def test_rotate_secret_with_grace_keeps_the_old_secret(container: Container) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    webhook = make_webhook(box, team.id, secret="whsec_one")
    await store.insert_webhook(webhook)

    two = box.encrypt("whsec_two")
    expires, now = at(86_400.5), at(30)
    rotated = await store.rotate_secret(team.id, webhook.id, two, expires, now)
    expected = dataclasses.replace(
        webhook,
        secret_ciphertext=two,
        previous_secret_ciphertext=webhook.secret_ciphertext,
        previous_secret_expires_at=expires,
        updated_at=now,
    )
    assert rotated == expected
    assert await store.get_webhook(team.id, webhook.id) == expected
    assert rotated is not None
    assert rotated.previous_secret_ciphertext is not None
    assert box.decrypt(rotated.previous_secret_ciphertext) == "whsec_one"
    assert box.decrypt(rotated.secret_ciphertext) == "whsec_two"
    assert_utc(rotated.previous_secret_expires_at)

    # Rotating again in the grace period retires "one" for good; "two" becomes the previous.
    three = box.encrypt("whsec_three")
    again = await store.rotate_secret(team.id, webhook.id, three, at(90_000), at(40))
    assert again is not None
    assert again.previous_secret_ciphertext is not None
    assert box.decrypt(again.previous_secret_ciphertext) == "whsec_two"
    assert box.decrypt(again.secret_ciphertext) == "whsec_three"
    assert again.previous_secret_expires_at == at(90_000)


async def test_rotate_secret_of_an_unknown_or_foreign_webhook_is_none(
    container: Container,
) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    other, _ = await new_team(store)
    webhook = make_webhook(box, team.id)
    await store.insert_webhook(webhook)
    new = box.encrypt("whsec_new")
    assert await store.rotate_secret(team.id, new_webhook_id(), new, at(60), at(1)) is None
    assert await store.rotate_secret(other.id, webhook.id, new, at(60), at(1)) is None
    assert await store.rotate_secret(other.id, webhook.id, new, None, at(1)) is None
    assert await store.get_webhook(team.id, webhook.id) == webhook


async def test_concurrent_rotations_lose_no_secret(container: Container) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    webhook = make_webhook(box, team.id, secret="whsec_initial")
    await store.insert_webhook(webhook)
    plaintexts = [f"whsec_concurrent_{i}" for i in range(5)]
    ciphertexts = [box.encrypt(p) for p in plaintexts]

    results = await asyncio.gather(
        *(
            store.rotate_secret(team.id, webhook.id, c, at(3600), at(10 + i))
            for i, c in enumerate(ciphertexts)
        )
    )

    assert all(r is not None for r in results)
    rotations = [r for r in results if r is not None]
    final = await store.get_webhook(team.id, webhook.id)
    assert final is not None
    assert final.secret_ciphertext in ciphertexts
    assert final.previous_secret_ciphertext is not None
    ever_current = {webhook.secret_ciphertext, *ciphertexts} - {final.secret_ciphertext}
    assert final.previous_secret_ciphertext in ever_current
    assert box.decrypt(final.previous_secret_ciphertext) in {"whsec_initial", *plaintexts}
    assert final.previous_secret_ciphertext != final.secret_ciphertext

    # Serialised, the rotations form one chain: each one's "previous" is the secret the one
    # before it installed, so every secret but the last was "previous" exactly once.
    for rotated, installed in zip(rotations, ciphertexts, strict=True):
        assert rotated.secret_ciphertext == installed
    previous = sorted(r.previous_secret_ciphertext or "" for r in rotations)
    assert previous == sorted(ever_current)
    last = next(r for r in rotations if r.secret_ciphertext == final.secret_ciphertext)
    assert last.previous_secret_ciphertext == final.previous_secret_ciphertext


async def test_delete_webhook(container: Container) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    other, _ = await new_team(store)
    webhook = make_webhook(box, team.id, events=("ticket.created", "*"))
    keep = make_webhook(box, team.id, events=("ticket.created",), created_at=at(1))
    await store.insert_webhook(webhook)
    await store.insert_webhook(keep)

    assert await store.delete_webhook(other.id, webhook.id) is False
    assert await store.get_webhook(team.id, webhook.id) == webhook
    assert await subscribed(container, team.id, "ticket.created") == [webhook, keep]

    assert await store.delete_webhook(team.id, webhook.id) is True
    assert await store.get_webhook(team.id, webhook.id) is None
    assert await subscribed(container, team.id, "ticket.created") == [keep]
    assert await subscribed(container, team.id, "article.published") == []
    assert await store.delete_webhook(team.id, webhook.id) is False
    assert await store.delete_webhook(team.id, new_webhook_id()) is False
    page = await store.list_webhooks(team.id, active=None, page=PageRequest())
    assert page.items == [keep]

    # The id can be used again: nothing of the deleted webhook is left behind.
    reborn = dataclasses.replace(webhook, events=("article.*",))
    await store.insert_webhook(reborn)
    assert await subscribed(container, team.id, "article.published") == [reborn]
    assert await subscribed(container, team.id, "ticket.created") == [keep]


# -- fan-out ----------------------------------------------------------------------------------


async def test_an_event_reaches_its_exact_resource_and_wildcard_subscribers(
    container: Container,
) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    other, _ = await new_team(store)

    def hook(events: tuple[str, ...], seconds: float, *, is_active: bool = True) -> Webhook:
        return make_webhook(
            box, team.id, events=events, created_at=at(seconds), is_active=is_active
        )

    exact = hook(("customer_group.created",), 50)
    resource = hook(("customer_group.*",), 10)
    everything = hook(("*",), 40)
    several = hook(("customer_group.created", "customer_group.*", "*", "ticket.closed"), 20)
    customer_wildcard = hook(("customer.*",), 5)
    customer_exact = hook(("customer.created",), 6)
    other_action = hook(("customer_group.deleted",), 7)
    inactive = hook(("*", "customer_group.created"), 30, is_active=False)
    for webhook in (
        exact,
        resource,
        everything,
        several,
        customer_wildcard,
        customer_exact,
        other_action,
        inactive,
    ):
        await store.insert_webhook(webhook)
    for events in (("*",), ("customer_group.created",), ("customer_group.*",)):
        await store.insert_webhook(make_webhook(box, other.id, events=events, created_at=at(1)))

    assert await subscribed(container, team.id, "customer_group.created") == [
        resource,
        several,
        everything,
        exact,
    ]
    assert await subscribed(container, team.id, "customer.created") == [
        customer_wildcard,
        customer_exact,
        several,
        everything,
    ]
    assert await subscribed(container, team.id, "customer.deleted") == [
        customer_wildcard,
        several,
        everything,
    ]
    assert await subscribed(container, team.id, "ticket.closed") == [several, everything]
    assert await subscribed(container, team.id, "article.published") == [
        several,
        everything,
    ]

    # Activation is what counts, not the subscription rows.
    now_active = await store.update_webhook(
        team.id, inactive.id, WebhookChanges(is_active=True), at(100)
    )
    assert now_active is not None
    assert await subscribed(container, team.id, "customer_group.created") == [
        resource,
        several,
        now_active,
        everything,
        exact,
    ]


# -- errors -----------------------------------------------------------------------------------


async def test_duplicate_webhook_id_raises_store_error(container: Container) -> None:
    store, box = container.store, container.box
    team, _ = await new_team(store)
    webhook = make_webhook(box, team.id, events=("ticket.created",))
    await store.insert_webhook(webhook)
    duplicate = dataclasses.replace(
        webhook, name="Duplicate named Hildegard", events=("article.*",)
    )

    with pytest.raises(StoreError) as caught:
        await store.insert_webhook(duplicate)
    assert not isinstance(caught.value, SQLAlchemyError)
    assert isinstance(caught.value.__cause__, SQLAlchemyError)
    # The message reaches the server's log: it names the statement, never the values bound to
    # it (names, payloads, idempotency keys, ciphertexts).
    assert "Hildegard" not in str(caught.value)
    assert webhook.secret_ciphertext not in str(caught.value)

    # Nothing of the failed insert is left, and the store keeps working afterwards.
    assert await store.get_webhook(team.id, webhook.id) == webhook
    assert await subscribed(container, team.id, "article.published") == []
    fresh = make_webhook(box, team.id)
    await store.insert_webhook(fresh)
    assert await store.get_webhook(team.id, fresh.id) == fresh


async def test_duplicate_key_raises_store_error(container: Container) -> None:
    store = container.store
    team, (secret, _) = await new_team(store)
    with pytest.raises(StoreError) as caught:
        await store.insert_key(secret)
    assert not isinstance(caught.value, SQLAlchemyError)
    same_hash = dataclasses.replace(make_key(team.id), key_hash=secret.key_hash)
    with pytest.raises(StoreError):
        await store.insert_key(same_hash)
    assert await store.get_key(team.id, same_hash.id) is None
    with pytest.raises(StoreError):
        await store.create_team(dataclasses.replace(team, name="Again"), [])
    assert await store.get_team(team.id) == team


async def test_rows_of_an_unknown_team_are_refused(container: Container) -> None:
    """Foreign keys hold on both backends (SQLite needs ``PRAGMA foreign_keys``)."""
    store = container.store
    ghost = new_team_id()
    with pytest.raises(StoreError):
        await store.insert_webhook(make_webhook(container.box, ghost))
    with pytest.raises(StoreError):
        await store.insert_key(make_key(ghost))
