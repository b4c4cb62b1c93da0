"""The one place that wires concrete parts together: database, migrations, keys, services.

``open_container`` is what ``cstar serve``, ``cstar worker``, ``cstar admin`` and the tests call;
nothing here runs at import time.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from cstar.server.api.ratelimit import SharedWindowLimiter
from cstar.server.config import ConfigError, Settings
from cstar.server.dispatch.dispatcher import DispatchConfig, Dispatcher
from cstar.server.dispatch.retry import RetryPolicy
from cstar.server.dispatch.sender import Sender
from cstar.server.dispatch.wakeup import Waker
from cstar.server.domain.clock import Clock, utc_now
from cstar.server.health import ProcessHealth
from cstar.server.observability.metrics import Metrics, multiprocess_dir
from cstar.server.realtime.hub import EventHub, StreamLimits
from cstar.server.security.secretbox import SecretBox, load_or_create_key_file
from cstar.server.services.dashboard_sessions import DashboardSessions
from cstar.server.services.deliveries import DeliveryService
from cstar.server.services.events import EventService
from cstar.server.services.keys import KeyService
from cstar.server.services.request_log import RequestLogRecorder
from cstar.server.services.teams import CreatedTeam, TeamService
from cstar.server.services.webhooks import WebhookService
from cstar.server.store import migrate
from cstar.server.store.backend import Backend
from cstar.server.store.channels import EVENTS_CHANNEL
from cstar.server.store.contract import StoreError
from cstar.server.store.dashboard_sessions import SqlDashboardStore
from cstar.server.store.database import Database, PostgresDatabase, SqliteDatabase, open_database
from cstar.server.store.deliveries import SqlDeliveryStore
from cstar.server.store.event_log import SqlEventLog
from cstar.server.store.key_status import SqlKeyStatus
from cstar.server.store.postgres.backend import PostgresBackend
from cstar.server.store.queue_stats import SqlQueueStats
from cstar.server.store.rate_limits import SqlRateLimitLedger
from cstar.server.store.request_logs import SqlRequestLogStore
from cstar.server.store.sql import SqlStore
from cstar.server.store.sqlite.backend import SqliteBackend

log = logging.getLogger(__name__)

MASTER_KEY_CHECK = "master_key_check"
#: The rate limiters' names in ``rate_limit_windows``: per API key, and failed sign-ins per
#: address (the API's and the dashboard's).
KEY_LIMITER = "api-key"
FAILURE_LIMITER = "auth-failure"


class StartupError(Exception):
    """The server cannot start; the message tells the operator what to fix."""


@dataclass(slots=True)
class Container:
    settings: Settings
    clock: Clock
    database: Database
    store: SqlStore
    delivery_store: SqlDeliveryStore
    box: SecretBox
    sender: Sender
    waker: Waker
    #: Wakes realtime streams when an event is stored (NOTIFY across processes on PostgreSQL).
    published: Waker
    policy: RetryPolicy
    teams: TeamService
    keys: KeyService
    webhooks: WebhookService
    events: EventService
    deliveries: DeliveryService
    key_limiter: SharedWindowLimiter
    auth_failure_limiter: SharedWindowLimiter
    #: Realtime streams: this process's tail of the event log.
    streams: EventHub
    #: The API request log: read by ``GET /teams/{teamId}/logs``, purged by the dispatcher.
    request_log_store: SqlRequestLogStore
    #: Buffers this process's API requests and writes them in batches in the background.
    request_log: RequestLogRecorder
    #: The dashboard's sign-in and sessions.
    dashboard_sessions: DashboardSessions
    metrics: Metrics
    #: The team created on the very first start (its keys are printed once), else None.
    bootstrap_team: CreatedTeam | None = None
    #: Set when a part of this process (the dispatcher) has died: ``/healthz`` says so.
    health: ProcessHealth = field(default_factory=ProcessHealth)

    def dispatcher(self, *, worker_id: str | None = None) -> Dispatcher:
        """A dispatcher over this container's database, secrets and HTTP pool."""
        s = self.settings
        return Dispatcher(
            store=self.delivery_store,
            box=self.box,
            sender=self.sender,
            policy=self.policy,
            waker=self.waker,
            clock=self.clock,
            config=DispatchConfig(
                concurrency=s.dispatch_concurrency,
                endpoint_concurrency=s.endpoint_concurrency,
                lease=timedelta(seconds=s.lease_seconds),
                delivery_timeout=s.delivery_timeout,
                poll_interval=s.effective_poll_interval(),
                disable_after=timedelta(seconds=s.disable_after),
                log_retention=timedelta(seconds=s.log_retention),
            ),
            worker_id=worker_id,
            request_logs=self.request_log_store,
            metrics=self.metrics,
        )

    async def aclose(self) -> None:
        await self.request_log.aclose()
        await self.streams.close()
        await self.published.close()
        await self.waker.close()
        await self.sender.close()
        await self.database.dispose()


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


def backend_for(database: Database) -> Backend:
    """The backend of ``database``'s kind: the one place that picks by database."""
    if isinstance(database, PostgresDatabase):
        return PostgresBackend(database)
    if isinstance(database, SqliteDatabase):
        return SqliteBackend(database)
    raise TypeError(f"no backend for {type(database).__name__}")


async def open_container(
    settings: Settings, *, clock: Clock = utc_now, bootstrap: bool = True
) -> Container:
    """Connect, migrate, load the master key, and (first start only) create a team.

    Whatever fails, what was opened so far is closed exactly once, and the error is raised.
    """
    try:
        database = open_database(
            settings.database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
    except ConfigError as exc:
        raise StartupError(str(exc)) from exc
    async with contextlib.AsyncExitStack() as cleanup:
        cleanup.push_async_callback(database.dispose)
        try:
            await migrate.upgrade(database)
        except (StoreError, OSError) as exc:
            raise StartupError(f"cannot open the database: {_reason(exc)}") from exc
        try:
            box = SecretBox(master_keys(settings))
        except (ConfigError, OSError) as exc:
            raise StartupError(f"cannot load the master key: {exc}") from exc
        backend = backend_for(database)
        store = SqlStore(database, backend)
        try:
            await _check_master_key(store, box)
        except StoreError as exc:
            raise StartupError(f"cannot use the database: {_reason(exc)}") from exc
        delivery_store = SqlDeliveryStore(database, backend)
        sender = Sender(
            timeout=settings.delivery_timeout,
            max_response_bytes=settings.max_response_bytes,
            allow_private=settings.dev,
            pool_size=settings.dispatch_concurrency,
            proxy=settings.egress_proxy,
        )
        await sender.start()
        cleanup.push_async_callback(sender.close)
        waker = Waker(database.dsn)
        await waker.start()
        cleanup.push_async_callback(waker.close)
        # Started by the first stream that subscribes: no LISTEN connection until then.
        published = Waker(database.dsn, EVENTS_CHANNEL)
        cleanup.push_async_callback(published.close)
        webhooks = WebhookService(store, box, clock, dev=settings.dev)
        metrics = Metrics(clock, multiprocess_dir=multiprocess_dir())
        metrics.watch_database(SqlQueueStats(database).snapshot)
        events = EventService(
            store,
            delivery_store,
            waker,
            clock,
            dashboard_base_url=settings.dashboard_base_url,
            published=published,
            on_published=metrics.record_publishes,
        )
        request_log_store = SqlRequestLogStore(database, backend)
        streams = EventHub(
            SqlEventLog(database),
            published,
            usable_keys=SqlKeyStatus(database).usable,
            limits=StreamLimits(
                per_key=settings.streams_per_key,
                per_team=settings.streams_per_team,
                access_check=settings.stream_access_check,
            ),
            poll_interval=settings.effective_poll_interval(),
        )
        cleanup.push_async_callback(streams.close)
        request_log = RequestLogRecorder(request_log_store)
        cleanup.push_async_callback(request_log.aclose)
        keys = KeyService(
            store, clock, on_revoked=streams.end_key, cache_ttl=settings.key_cache_ttl
        )
        container = Container(
            settings=settings,
            clock=clock,
            database=database,
            store=store,
            delivery_store=delivery_store,
            box=box,
            sender=sender,
            waker=waker,
            published=published,
            policy=RetryPolicy(settings.retry_schedule),
            teams=TeamService(store, clock),
            keys=keys,
            webhooks=webhooks,
            events=events,
            deliveries=DeliveryService(delivery_store, webhooks, events, sender, waker, clock),
            key_limiter=SharedWindowLimiter(
                settings.rate_limit, clock, SqlRateLimitLedger(database, KEY_LIMITER)
            ),
            auth_failure_limiter=SharedWindowLimiter(
                settings.auth_failure_limit, clock, SqlRateLimitLedger(database, FAILURE_LIMITER)
            ),
            streams=streams,
            request_log_store=request_log_store,
            request_log=request_log,
            dashboard_sessions=DashboardSessions(SqlDashboardStore(database), keys, clock),
            metrics=metrics,
        )
        if bootstrap:
            try:
                container.bootstrap_team = await container.teams.bootstrap()
            except StoreError as exc:
                raise StartupError(f"cannot create the first team: {_reason(exc)}") from exc
        cleanup.pop_all()
        return container
    raise AssertionError("unreachable")  # pragma: no cover - the block returns or raises


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    orig = getattr(cause, "orig", None) or cause
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}".rstrip(": ")
