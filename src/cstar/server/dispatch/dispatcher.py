"""The worker loop: claim due deliveries, send them, record the attempts, reschedule.

One loop runs *cycles*. A cycle is one database transaction that records every attempt finished
since the last cycle, claims new due deliveries under a lease, and says when the next one falls
due. Sends run concurrently in between. Under load cycles follow each other back to back and
batch themselves (one transaction, and one fsync, per few dozen deliveries); when idle, the loop
sleeps until new work is published (it is poked), a send finishes, or the next retry falls due.

At most ``concurrency`` requests are in flight in all, and ``endpoint_concurrency`` per endpoint
(webhook). Up to three times as many more wait per endpoint in a local buffer, so that a finished
request is followed by the next one at once while the next cycle is in the database: on
PostgreSQL a cycle takes milliseconds, and the buffer is what keeps the senders busy meanwhile
(one buffer's worth, as before 2026-12-04, capped one dispatcher at about 64 deliveries per
cycle; three took a 20,000-delivery drain on PostgreSQL from ~5,200 to ~6,800/s). The buffer is
smaller when the lease is short: a buffered delivery must still have time to be sent after the
requests ahead of it have all timed out. A claim never takes more than a webhook's remaining
room, so a slow or dead endpoint holds only its own share of the capacity and never delays
others.

Leases make crashes safe: a worker that dies holds its claims only until their lease ends, then
another worker retakes them (at-least-once delivery). A send never starts on a lease with too
little time left for it, so no delivery is in flight twice. ``stop()`` stops claiming, gives back
what is buffered, lets the requests in flight finish (each bounded by the delivery timeout),
records them (trying for a few seconds if the database is away), and returns.

Whatever goes wrong with one delivery (its URL, its secret, a bug) becomes a failed attempt on
the normal retry schedule, never a delivery retried in a loop. While the database is away the
loop backs off (exponentially, with jitter, woken only by stop) and logs the outage twice: when it
starts and when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, timedelta

from cstar.server.config import LEASE_MARGIN
from cstar.server.dispatch.outcome import attempt_record, decide, not_sent, redacted
from cstar.server.dispatch.request import delivery_headers
from cstar.server.dispatch.retry import RetryPolicy
from cstar.server.dispatch.sender import Sender
from cstar.server.dispatch.wakeup import Waker
from cstar.server.domain.clock import Clock
from cstar.server.domain.rotation import signing_secrets
from cstar.server.domain.webhooks import headers_from_json
from cstar.server.observability.metrics import Metrics
from cstar.server.outage import Outage
from cstar.server.security.secretbox import SecretBox
from cstar.server.store.contract import (
    AttemptOutcome,
    ClaimedDelivery,
    ClaimRequest,
    CycleResult,
    DeliveryStore,
    RequestLogStore,
    StoreError,
)

log = logging.getLogger(__name__)

#: Finished attempts waiting to be recorded beyond which no new work is claimed (backpressure
#: while the database is slow or away: memory stays bounded, nothing is lost).
_MAX_UNRECORDED = 5000
#: A cycle that handled at least this many deliveries means load: the next waits for the window.
_BUSY_CYCLE = 16
_BATCH_WINDOW = 0.005
#: Room per endpoint in claims, in multiples of its concurrency, at most: requests in flight
#: plus a buffer that keeps them going while the next cycle is in the database
#: (:func:`room_multiple` makes it smaller when the lease is short).
_ROOM = 4
#: At stop: how long past the delivery timeout requests in flight may take, and how long the
#: dispatcher keeps trying to record them while the database is away.
_STOP_GRACE = 1.0
_RECORD_AT_STOP = 5.0
#: A rate-limited delivery this late for its slot is given back rather than sent (see
#: :meth:`Dispatcher._missed_slot`): a request sends at most this long after its slot.
PACE_LATE = timedelta(milliseconds=50)
#: Cycles whose answer times count towards when a claim's first slot may be.
_ANSWER_TIMES = 8


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    concurrency: int = 256
    endpoint_concurrency: int = 32
    lease: timedelta = timedelta(seconds=60)
    delivery_timeout: float = 10.0
    poll_interval: float = 0.05
    disable_after: timedelta = timedelta(days=5)
    log_retention: timedelta = timedelta(days=30)
    claim_batch: int = 200
    record_batch: int = 1000
    purge_interval: float = 600.0


def room_multiple(config: DispatchConfig, timeout_seconds: float | None = None) -> int:
    """Claims held per endpoint (and in all), in multiples of its (and the total) concurrency.

    A buffered delivery waits, at worst, for one timeout per wave of requests ahead of it, and
    must then still have a delivery timeout plus the margin left on its lease; so the buffer
    holds only as many waves as the lease leaves time for, up to ``_ROOM - 1``.
    ``timeout_seconds``: an endpoint's own timeout, in place of the server's.
    """
    timeout = max(timeout_seconds or config.delivery_timeout, 0.001)
    spare = config.lease.total_seconds() - timeout - LEASE_MARGIN
    waves = max(0, int(spare // timeout))
    return 1 + min(_ROOM - 1, waves)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Dispatcher:
    def __init__(
        self,
        *,
        store: DeliveryStore,
        box: SecretBox,
        sender: Sender,
        policy: RetryPolicy,
        waker: Waker,
        clock: Clock,
        config: DispatchConfig,
        worker_id: str | None = None,
        request_logs: RequestLogStore | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics
        #: Purged with the delivery logs, by the same retention.
        self._request_logs = request_logs
        self._box = box
        self._sender = sender
        self._policy = policy
        self._waker = waker
        self._clock = clock
        self._config = config
        self.worker_id = worker_id or new_worker_id()
        #: Claimed and not yet recorded (sending, buffered, or finished and awaiting a cycle).
        self._held: dict[str, ClaimedDelivery] = {}
        self._sending: Counter[str] = Counter()
        self._buffered: defaultdict[str, deque[ClaimedDelivery]] = defaultdict(deque)
        self._results: list[AttemptOutcome] = []
        self._to_release: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: Requests in flight across every endpoint: at most ``concurrency``.
        self._slots = asyncio.Semaphore(config.concurrency)
        self._room = room_multiple(config)
        #: Endpoints whose own timeout is longer than the server's hold fewer claims (fewer
        #: waves fit in a lease): their room, learnt from their claims.
        self._long_rooms: dict[str, int] = {}
        self._poke = asyncio.Event()
        #: Set by ``stop()`` alone: what an outage's backoff waits for (pokes must not cut it).
        self._stop_requested = asyncio.Event()
        self._stopping = False
        self._outage = Outage(log, "the database")
        #: A cycle failed: it may have committed claims whose answer never arrived.
        self._claims_uncertain = False
        #: How long the latest cycles took to answer (see ClaimRequest.pace_from).
        self._answer_times: deque[float] = deque(maxlen=_ANSWER_TIMES)
        self._secret_cache: dict[str, str] = {}
        self._headers_cache: dict[str, dict[str, str]] = {}
        #: Attempts recorded so far (for operators and benchmarks).
        self.recorded = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop claiming; ``run`` returns once the work in hand is finished and recorded."""
        self._stopping = True
        self._stop_requested.set()
        self._poke.set()

    async def run(self) -> None:
        self._waker.subscribe(self._poke)
        purger = asyncio.create_task(self._purge_loop(), name="cstar-purger")
        try:
            await self._cycle_loop()
        finally:
            self._stopping = True
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            await self._drain()
            self._waker.unsubscribe(self._poke)

    async def _drain(self) -> None:
        """Give back what is buffered, let what is in flight finish, record everything."""
        for queue in self._buffered.values():
            self._to_release.extend(c.delivery_id for c in queue)
            queue.clear()
        if self._tasks:
            log.info("waiting for %d deliveries in flight", len(self._tasks))
            _done, pending = await asyncio.wait(
                set(self._tasks), timeout=self._config.delivery_timeout + _STOP_GRACE
            )
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _RECORD_AT_STOP
        while self._results:
            try:
                await self._cycle(claim=False)
            except StoreError as exc:
                wait = self._outage.failed(exc)
                if loop.time() + wait > deadline:
                    log.error(
                        "stopping without recording %d attempts (%s): their deliveries are sent "
                        "again once their lease ends",
                        len(self._results),
                        exc,
                    )
                    self._results.clear()
                    return
                await asyncio.sleep(wait)
            else:
                self._outage.recovered()
        await self._release()

    # -- the cycle -----------------------------------------------------------------------------
    async def _cycle_loop(self) -> None:
        loop = asyncio.get_running_loop()
        busy_until = 0.0
        while not self._stopping:
            if loop.time() < busy_until and not self._starving():
                # Under load, let a few milliseconds of results gather: one transaction (and
                # one fsync) then records and claims dozens of deliveries at once. The endpoint
                # buffers keep every sender busy meanwhile.
                await asyncio.sleep(busy_until - loop.time())
            self._poke.clear()
            started = loop.time()
            try:
                result, wanted, recorded = await self._cycle(claim=True)
                self._outage.recovered()
                if self._claims_uncertain:
                    await self._release_unheld()
            except StoreError as exc:
                self._claims_uncertain = True
                await self._pause(self._outage.failed(exc))
                continue
            await self._release()
            handled = len(result.claimed) + recorded
            busy_until = started + _BATCH_WINDOW if handled >= _BUSY_CYCLE else 0.0
            if self._results or (wanted and len(result.claimed) == wanted):
                await asyncio.sleep(0)  # more to record or more due: cycle again at once
                continue
            await self._sleep(self._idle_timeout(result))

    async def _cycle(self, *, claim: bool) -> tuple[CycleResult, int, int]:
        config = self._config
        batch = self._results[: config.record_batch]
        now = self._clock()
        request = None
        wanted = 0
        if claim and not self._stopping and len(self._results) < _MAX_UNRECORDED:
            # Claims count work in hand (sending or buffered); finished attempts waiting for
            # this cycle to record them hold no connection and do not count.
            active = len(self._held) - len(self._results)
            wanted = min(self._room * config.concurrency - active, config.claim_batch)
            if wanted > 0:
                busy = {w: n + len(self._buffered.get(w, ())) for w, n in self._sending.items()}
                per_webhook = self._room * config.endpoint_concurrency
                for webhook_id, room in self._long_rooms.items():
                    busy[webhook_id] = busy.get(webhook_id, 0) + per_webhook - room
                request = ClaimRequest(
                    now=now,
                    limit=wanted,
                    lease_until=now + config.lease,
                    worker_id=self.worker_id,
                    # Room per endpoint: its requests in flight, plus those waiting.
                    per_webhook=per_webhook,
                    busy=busy,
                    # Slots start once the answer is here: as late as the slowest recent one.
                    pace_from=now + timedelta(seconds=max(self._answer_times, default=0.0)),
                )
        began = time.perf_counter()
        result = await self._store.record_and_claim(
            batch,
            request,
            worker_id=self.worker_id,
            now=now,
            disable_failing_since=now - config.disable_after,
        )
        took = time.perf_counter() - began
        self._answer_times.append(took)
        if self._metrics is not None:
            self._metrics.cycle_duration.observe(took)
            self._metrics.record_attempts(batch)
        del self._results[: len(batch)]
        for outcome in batch:
            self._held.pop(outcome.attempt.delivery_id, None)
        self.recorded += len(batch)
        if result.stale:
            log.warning(
                "%d attempts were not recorded: their delivery was recorded already or had "
                "passed to another worker (its lease ended while the database was away)",
                result.stale,
            )
        for webhook_id in result.disabled:
            log.warning("deactivated webhook %s (see its disabledReason)", webhook_id)
        # A rate-limited endpoint's deliveries in the order of their slots.
        for claimed in sorted(result.claimed, key=lambda c: c.send_at or now):
            self._admit(claimed)
        return result, wanted, len(batch)

    def _starving(self) -> bool:
        """An endpoint with senders to spare but nothing buffered: claim now, do not batch."""
        cap = self._config.endpoint_concurrency
        return any(n < cap and not self._buffered.get(w) for w, n in self._sending.items())

    def _idle_timeout(self, result: CycleResult) -> float:
        """Wait for a poke until the next delivery falls due, at most ``poll_interval``.

        Work that is due but was not claimed belongs to endpoints at their cap (or was taken by
        another worker): a finishing send pokes us, so wait for that rather than spin.
        """
        poll = self._config.poll_interval
        if result.next_due is None:
            return poll
        until = (result.next_due - self._clock()).total_seconds()
        return poll if until <= 0 else min(poll, until)

    async def _pause(self, seconds: float) -> None:
        """Back off for ``seconds``; only ``stop()`` ends it early (a finished send does not)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested.wait(), seconds)

    async def _release_unheld(self) -> None:
        """After a failed cycle: give back claims it may have committed without our knowing."""
        released = await self._store.release_unheld(list(self._held), worker_id=self.worker_id)
        self._claims_uncertain = False
        if released:
            log.info("gave back %d claims made by a cycle whose answer was lost", released)

    async def _sleep(self, seconds: float) -> None:
        """Until poked (new work, a finished send, stop) or ``seconds`` have passed."""
        if seconds <= 0 or self._poke.is_set():
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._poke.wait(), seconds)

    async def _release(self) -> None:
        if not self._to_release:
            return
        ids, self._to_release = self._to_release, []
        try:
            await self._store.release(ids, worker_id=self.worker_id)
        except StoreError as exc:
            log.error(
                "could not give back %d leases (%s); they expire by themselves", len(ids), exc
            )
        for delivery_id in ids:
            self._held.pop(delivery_id, None)

    # -- sending -------------------------------------------------------------------------------
    def _admit(self, claim: ClaimedDelivery) -> None:
        """Buffer a claimed delivery for its endpoint; start a sender if the endpoint has room.

        Each endpoint has up to ``endpoint_concurrency`` sender coroutines, each sending one
        delivery at a time from the endpoint's buffer until it is empty: under load, senders
        live on from one claim to the next instead of a task being made per delivery.
        """
        self._held[claim.delivery_id] = claim
        self._note_timeout(claim)
        self._buffered[claim.webhook_id].append(claim)
        if self._sending[claim.webhook_id] < self._config.endpoint_concurrency:
            self._sending[claim.webhook_id] += 1
            task = asyncio.create_task(self._sender_loop(claim.webhook_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _note_timeout(self, claim: ClaimedDelivery) -> None:
        """Learn the room of an endpoint whose own timeout lets fewer waves fit in a lease."""
        if claim.timeout_seconds is None:
            self._long_rooms.pop(claim.webhook_id, None)
            return
        multiple = room_multiple(self._config, claim.timeout_seconds)
        if multiple < self._room:
            if len(self._long_rooms) >= 10_000 and claim.webhook_id not in self._long_rooms:
                self._long_rooms.clear()
            self._long_rooms[claim.webhook_id] = multiple * self._config.endpoint_concurrency
        else:
            self._long_rooms.pop(claim.webhook_id, None)

    async def _sender_loop(self, webhook_id: str) -> None:
        try:
            while not self._stopping and self._buffered.get(webhook_id):
                head = self._buffered[webhook_id][0]
                if head.send_at is not None and head.send_at > self._clock():
                    if not await self._paced(webhook_id):
                        break
                    continue
                async with self._slots:
                    queue = self._buffered.get(webhook_id)
                    if self._stopping or not queue:  # given back while waiting for a slot
                        break
                    claim = queue.popleft()
                    if not queue:
                        del self._buffered[webhook_id]
                    if not self._missed_slot(claim):
                        await self._deliver(claim)
                self._poke.set()
        finally:
            remaining = self._sending[webhook_id] - 1
            if remaining > 0:
                self._sending[webhook_id] = remaining
            else:
                del self._sending[webhook_id]
            self._poke.set()

    async def _paced(self, webhook_id: str) -> bool:
        """Send the endpoint's next delivery, a rate-limited one, at its slot (a claim hands
        slots out at most ``PACE_AHEAD`` ahead). It leaves the buffer first, so that the
        endpoint's other senders take the slots after it; the wait holds no sending capacity.
        False when ``stop()`` came first: the delivery is given back."""
        queue = self._buffered[webhook_id]
        claim = queue.popleft()
        if not queue:
            del self._buffered[webhook_id]
        assert claim.send_at is not None
        await self._pause((claim.send_at - self._clock()).total_seconds())
        if self._stopping:
            self._to_release.append(claim.delivery_id)
            return False
        async with self._slots:
            if self._stopping:
                self._to_release.append(claim.delivery_id)
                return False
            if not self._missed_slot(claim):
                await self._deliver(claim)
        self._poke.set()
        return True

    def _missed_slot(self, claim: ClaimedDelivery) -> bool:
        """A rate-limited delivery more than ``PACE_LATE`` past its slot (its claim's answer was
        slow to come, or this process was busy) is given back, to be claimed again with a fresh
        slot: sent now, it would crowd the slots handed out since, and the endpoint would get
        more than its rate in a second."""
        if claim.send_at is None or self._clock() - claim.send_at <= PACE_LATE:
            return False
        log.debug("%s missed its slot; giving it back for a later one", claim.delivery_id)
        self._to_release.append(claim.delivery_id)
        return True

    def _custom_headers(self, ciphertext: str | None) -> dict[str, str]:
        if ciphertext is None:
            return {}
        headers = self._headers_cache.get(ciphertext)
        if headers is None:
            if len(self._headers_cache) > 10_000:
                self._headers_cache.clear()
            headers = self._headers_cache[ciphertext] = headers_from_json(
                self._box.decrypt(ciphertext)
            )
        return headers

    def _decrypt(self, ciphertext: str) -> str:
        plain = self._secret_cache.get(ciphertext)
        if plain is None:
            if len(self._secret_cache) > 10_000:
                self._secret_cache.clear()
            plain = self._secret_cache[ciphertext] = self._box.decrypt(ciphertext)
        return plain

    async def _deliver(self, claim: ClaimedDelivery) -> None:
        started = self._clock()
        margin = (claim.lease_until - started).total_seconds()
        timeout = claim.timeout_seconds or self._config.delivery_timeout
        if margin < timeout + LEASE_MARGIN:
            log.warning("lease of %s nearly over before sending; giving it back", claim.delivery_id)
            self._to_release.append(claim.delivery_id)
            return
        number = claim.attempts + 1
        headers: dict[str, str] = {}
        custom: dict[str, str] = {}
        began = time.perf_counter()
        try:
            body = claim.payload.encode("utf-8")
            custom = self._custom_headers(claim.headers_ciphertext)
            headers = delivery_headers(
                body=body,
                secrets=signing_secrets(
                    claim.secret_ciphertext,
                    claim.previous_secret_ciphertext,
                    claim.previous_secret_expires_at,
                    now=started,
                    decrypt=self._decrypt,
                ),
                event_id=claim.event_id,
                event_type=claim.event_type,
                webhook_id=claim.webhook_id,
                attempt=number,
                request_id=claim.request_id,
                now=started,
                scheme=claim.signature_scheme,
                custom=custom,
            )
            result = await self._sender.send(claim.url, body, headers, time_limit=timeout)
        except asyncio.CancelledError:
            log.warning("delivery %s cancelled during shutdown", claim.delivery_id)
            self._to_release.append(claim.delivery_id)
            return
        except Exception as exc:
            # A failed attempt like any other, on the retry schedule: never a tight loop.
            log.exception("delivery %s could not be sent", claim.delivery_id)
            result = not_sent(exc, duration_ms=int((time.perf_counter() - began) * 1000))
        decision = decide(
            result, retry_index=claim.retry_index, policy=self._policy, now=self._clock()
        )
        self._results.append(
            AttemptOutcome(
                attempt=attempt_record(
                    result,
                    delivery_id=claim.delivery_id,
                    webhook_id=claim.webhook_id,
                    number=number,
                    started_at=started,
                    url=claim.url,
                    headers=redacted(headers, custom),
                ),
                status=decision.status,
                next_attempt_at=decision.next_attempt_at,
                retry_index=decision.retry_index,
                deactivate_reason=decision.deactivate_reason,
            )
        )

    async def _purge_loop(self) -> None:
        await self.add_partitions()
        while True:
            await asyncio.sleep(self._config.purge_interval)
            await self.purge_once()

    async def add_partitions(self) -> None:
        """Make the attempts' day partitions for today and the next days (PostgreSQL); a
        failure is logged and tried again at the next purge (rows of a day without one go to
        the default partition meanwhile)."""
        try:
            await self._store.add_partitions(self._clock().astimezone(UTC).date())
        except Exception as exc:
            log.error("preparing the coming days' partitions failed: %s", exc)

    async def purge_once(self) -> None:
        """Delete what is older than the retention: finished deliveries with their attempts
        and events, expired idempotency keys, and API request log entries. A failure is logged
        and tried again next time: housekeeping never stops delivery."""
        await self.add_partitions()
        now = self._clock()
        try:
            removed = await self._store.purge(
                completed_before=now - self._config.log_retention,
                idempotency_before=now - timedelta(hours=24),
            )
        except Exception as exc:
            log.error("purging old delivery logs failed: %s", exc)
        else:
            if removed:
                log.info("purged %d completed deliveries older than the retention", removed)
        if self._request_logs is None:
            return
        try:
            entries = await self._request_logs.purge(before=now - self._config.log_retention)
        except Exception as exc:
            log.error("purging old request log entries failed: %s", exc)
            return
        if entries:
            log.info("purged %d request log entries older than the retention", entries)
