"""The one place that wires concrete parts together: engines, migrations, keys, services.

``open_container`` is what ``cstar serve``, ``cstar worker``, ``cstar admin`` and the tests call;
nothing here runs at import time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from cstar.server.api.ratelimit import FixedWindowLimiter
from cstar.server.config import ConfigError, Settings
from cstar.server.domain.clock import Clock, utc_now
from cstar.server.security.secretbox import SecretBox, load_or_create_key_file
from cstar.server.services.keys import KeyService
from cstar.server.services.teams import CreatedTeam, TeamService
from cstar.server.services.webhooks import WebhookService
from cstar.server.store import migrate
from cstar.server.store.contract import StoreError
from cstar.server.store.engine import Engines, create_engines
from cstar.server.store.sql import SqlStore

log = logging.getLogger(__name__)

MASTER_KEY_CHECK = "master_key_check"


class StartupError(Exception):
    """The server cannot start; the message tells the operator what to fix."""


@dataclass(slots=True)
class Container:
    settings: Settings
    clock: Clock
    engines: Engines
    store: SqlStore
    box: SecretBox
    teams: TeamService
    keys: KeyService
    webhooks: WebhookService
    key_limiter: FixedWindowLimiter
    auth_failure_limiter: FixedWindowLimiter
    #: The team created on the very first start (its keys are printed once), else None.
    bootstrap_team: CreatedTeam | None = None

    async def aclose(self) -> None:
        await self.engines.dispose()


def master_keys(settings: Settings) -> list[str]:
    if settings.master_keys:
        return list(settings.master_keys)
    return [load_or_create_key_file(settings.resolved_master_key_file())]


async def _check_master_key(store: SqlStore, box: SecretBox) -> None:
    token = await store.put_meta_if_absent(MASTER_KEY_CHECK, box.check_token())
    if not box.matches_check_token(token):
        raise StartupError(
            "the master key does not match the one this database's secrets were encrypted "
            "with; set CSTAR_MASTER_KEY (or CSTAR_MASTER_KEY_FILE) to the original key"
        )


async def open_container(
    settings: Settings, *, clock: Clock = utc_now, bootstrap: bool = True
) -> Container:
    """Connect, migrate, load the master key, and (first start only) create a team."""
    try:
        engines = create_engines(settings.database_url)
    except ConfigError as exc:
        raise StartupError(str(exc)) from exc
    try:
        try:
            await migrate.upgrade(engines.write)
        except (SQLAlchemyError, OSError) as exc:
            raise StartupError(f"cannot open the database: {_reason(exc)}") from exc
        try:
            box = SecretBox(master_keys(settings))
        except (ConfigError, OSError) as exc:
            raise StartupError(f"cannot load the master key: {exc}") from exc
        store = SqlStore(engines)
        try:
            await _check_master_key(store, box)
        except StoreError as exc:
            raise StartupError(f"cannot use the database: {_reason(exc)}") from exc
        container = Container(
            settings=settings,
            clock=clock,
            engines=engines,
            store=store,
            box=box,
            teams=TeamService(store, clock),
            keys=KeyService(store, clock),
            webhooks=WebhookService(store, box, clock, dev=settings.dev),
            key_limiter=FixedWindowLimiter(settings.rate_limit, clock),
            auth_failure_limiter=FixedWindowLimiter(settings.auth_failure_limit, clock),
        )
        if bootstrap:
            container.bootstrap_team = await container.teams.bootstrap()
        return container
    except BaseException:
        await engines.dispose()
        raise


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    orig = getattr(cause, "orig", None) or cause
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}".rstrip(": ")
