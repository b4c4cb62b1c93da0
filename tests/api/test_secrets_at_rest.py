"""Signing secrets are encrypted at rest, never read back, never logged; keys are only hashed."""

from __future__ import annotations

import logging

import httpx
import pytest
import sqlalchemy as sa

from cstar.server.bootstrap import Container
from cstar.server.domain.keys import hash_key
from cstar.server.services.teams import CreatedTeam
from tests.helpers import assert_success, bearer


async def dump_database(container: Container) -> str:
    """Every value of every row of every table, as text."""
    from cstar.server.store.schema import metadata

    def work(conn: sa.Connection) -> str:
        chunks: list[str] = []
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)).all():
                chunks.extend(str(value) for value in row)
        return "\n".join(chunks)

    return await container.database.read(work)


async def test_secrets_and_keys_are_not_stored_in_clear(
    client: httpx.AsyncClient, team: CreatedTeam, container: Container
) -> None:
    base = f"/api/v1/teams/{team.team.id}/webhooks"
    headers = bearer(team.secret_key)
    created = assert_success(
        await client.post(
            base,
            json={"name": "n", "url": "https://example.com/h", "events": "*"},
            headers=headers,
        ),
        201,
    )
    rotated = assert_success(
        await client.post(
            f"{base}/{created['id']}/rotate-secret",
            json={"gracePeriodSeconds": 60},
            headers=headers,
        )
    )
    dump = await dump_database(container)
    for secret in (created["secret"], rotated["secret"], team.secret_key, team.publishable_key):
        assert secret not in dump
        assert secret.split("_", 1)[1] not in dump  # not even without its prefix
    assert hash_key(team.secret_key) in dump  # the key is findable by its hash only
    stored = await container.store.get_webhook(team.team.id, created["id"])
    assert stored is not None
    assert container.box.decrypt(stored.secret_ciphertext) == rotated["secret"]


async def test_nothing_secret_is_logged(
    client: httpx.AsyncClient,
    team: CreatedTeam,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    base = f"/api/v1/teams/{team.team.id}/webhooks"
    headers = bearer(team.secret_key)
    created = assert_success(
        await client.post(
            base,
            json={"name": "n", "url": "https://example.com/h", "events": "*"},
            headers=headers,
        ),
        201,
    )
    rotated = assert_success(
        await client.post(f"{base}/{created['id']}/rotate-secret", headers=headers)
    )
    key = assert_success(
        await client.post(f"/api/v1/teams/{team.team.id}/keys", headers=headers), 201
    )
    await client.get(base, headers=bearer("sk_test_" + "Q" * 32))
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in (created["secret"], rotated["secret"], key["key"], team.secret_key):
        assert secret not in logged
