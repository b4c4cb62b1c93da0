"""The worker loop: claim due deliveries, send them, record the attempts, reschedule.

One claimer leases due deliveries in batches (at most ``concurrency`` held at once) and starts a
send for each at once. A webhook with ``endpoint_concurrency`` requests in flight is left out of
claims until one finishes, so a slow or dead endpoint holds only its own share of the capacity
and never delays the others. A recorder writes finished attempts in batches (every few
milliseconds under load), which is what makes durable logging of every attempt cheap.

Leases make crashes safe: a worker that dies holds its claims only until their lease ends, then
another worker retakes them (at-least-once delivery). A send is never started on a lease with too
little time left for it, so no delivery is in flight twice. ``stop()`` stops claiming, lets the
sends in flight finish (each is bounded by the delivery timeout), records them, and gives back
anything unsent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from cstar.server.dispatch.outcome import decide
from cstar.server.dispatch.request import delivery_headers
from cstar.server.dispatch.retry import RetryPolicy
from cstar.server.dispatch.sender import Sender
from cstar.server.dispatch.wakeup import Waker
from cstar.server.domain.clock import Clock
from cstar.server.domain.deliveries import Attempt
from cstar.server.security.secretbox import SecretBox
from cstar.server.store.contract import AttemptOutcome, ClaimedDelivery, DeliveryStore, StoreError

log = logging.getLogger(__name__)


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
    flush_interval: float = 0.005
    record_batch: int = 1000
    purge_interval: float = 600.0


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
    ) -> None:
        self._store = store
        self._box = box
        self._sender = sender
        self._policy = policy
        self._waker = waker
        self._clock = clock
        self._config = config
        self.worker_id = worker_id or new_worker_id()
        self._held: dict[str, ClaimedDelivery] = {}
        self._sending: Counter[str] = Counter()
        self._results: list[AttemptOutcome] = []
        self._to_release: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._poke = asyncio.Event()
        self._results_ready = asyncio.Event()
        self._stopping = False
        self._secret_cache: dict[str, str] = {}
        #: Counters for operators and benchmarks.
        self.sent = 0
        self.recorded = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop claiming; ``run`` returns once the work in hand is finished and recorded."""
        self._stopping = True
        self._poke.set()

    async def run(self) -> None:
        self._waker.subscribe(self._poke)
        recorder = asyncio.create_task(self._record_loop(), name="cstar-recorder")
        purger = asyncio.create_task(self._purge_loop(), name="cstar-purger")
        try:
            await self._claim_loop()
        finally:
            self._stopping = True
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            await self._drain()
            self._results_ready.set()
            await recorder
            self._waker.unsubscribe(self._poke)

    async def _drain(self) -> None:
        if not self._tasks:
            return
        log.info("waiting for %d deliveries in flight", len(self._tasks))
        _done, pending = await asyncio.wait(
            set(self._tasks), timeout=self._config.delivery_timeout + 5
        )
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    # -- claiming ------------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        config = self._config
        backoff = 0.1
        while not self._stopping:
            self._poke.clear()
            free = config.concurrency - len(self._held)
            if free <= 0:
                await self._sleep(config.poll_interval)
                continue
            now = self._clock()
            wanted = min(free, config.claim_batch)
            try:
                claims = await self._store.claim_due(
                    now=now,
                    limit=wanted,
                    lease_until=now + config.lease,
                    worker_id=self.worker_id,
                    per_webhook=config.endpoint_concurrency,
                    busy=dict(self._sending),
                )
            except StoreError as exc:
                log.error("claiming deliveries failed: %s; retrying in %.1fs", exc, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            for claim in claims:
                self._start(claim)
            if len(claims) == wanted:
                await asyncio.sleep(0)  # more is probably due: claim again at once
                continue
            await self._sleep(await self._idle_timeout())

    async def _idle_timeout(self) -> float:
        """How long to wait for a poke: until the next delivery falls due, at most ``poll``.

        Work that is due but was not claimed belongs to webhooks at their concurrency cap (or
        was taken by another worker): a finishing send pokes us, so wait rather than spin.
        """
        poll = self._config.poll_interval
        try:
            due = await self._store.next_due_at()
        except StoreError:
            return poll
        if due is None:
            return poll
        until = (due - self._clock()).total_seconds()
        return poll if until <= 0 else min(poll, until)

    async def _sleep(self, seconds: float) -> None:
        """Until poked (new work, a finished send, stop) or ``seconds`` have passed."""
        if seconds <= 0 or self._poke.is_set():
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._poke.wait(), seconds)

    def _start(self, claim: ClaimedDelivery) -> None:
        self._held[claim.delivery_id] = claim
        self._sending[claim.webhook_id] += 1
        task = asyncio.create_task(self._deliver(claim))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sending -------------------------------------------------------------------------------
    def _secrets(self, claim: ClaimedDelivery) -> list[str]:
        current = [self._decrypt(claim.secret_ciphertext)]
        expires = claim.previous_secret_expires_at
        if claim.previous_secret_ciphertext and expires is not None and expires > self._clock():
            current.append(self._decrypt(claim.previous_secret_ciphertext))
        return current

    def _decrypt(self, ciphertext: str) -> str:
        plain = self._secret_cache.get(ciphertext)
        if plain is None:
            if len(self._secret_cache) > 10_000:
                self._secret_cache.clear()
            plain = self._secret_cache[ciphertext] = self._box.decrypt(ciphertext)
        return plain

    async def _deliver(self, claim: ClaimedDelivery) -> None:
        recorded = False
        try:
            started = self._clock()
            margin = (claim.lease_until - started).total_seconds()
            if margin < self._config.delivery_timeout + 1:
                log.warning(
                    "lease of %s nearly over before sending; giving it back", claim.delivery_id
                )
                return
            body = claim.payload.encode("utf-8")
            number = claim.attempts + 1
            headers = delivery_headers(
                body=body,
                secrets=self._secrets(claim),
                event_id=claim.event_id,
                event_type=claim.event_type,
                webhook_id=claim.webhook_id,
                attempt=number,
                request_id=claim.request_id,
                now=started,
            )
            result = await self._sender.send(claim.url, body, headers)
            decision = decide(
                result, retry_index=claim.retry_index, policy=self._policy, now=self._clock()
            )
            attempt = Attempt(
                delivery_id=claim.delivery_id,
                webhook_id=claim.webhook_id,
                attempt=number,
                started_at=started,
                duration_ms=result.duration_ms,
                status_code=result.status_code,
                success=result.success,
                error=result.error,
                url=claim.url,
                request_headers=headers,
                response_body=result.response_body,
            )
            self._results.append(
                AttemptOutcome(
                    attempt=attempt,
                    status=decision.status,
                    next_attempt_at=decision.next_attempt_at,
                    retry_index=decision.retry_index,
                    deactivate_reason=decision.deactivate_reason,
                )
            )
            recorded = True
            self.sent += 1
            self._results_ready.set()
        except asyncio.CancelledError:
            log.warning("delivery %s cancelled during shutdown", claim.delivery_id)
        except Exception:
            log.exception(
                "delivery %s failed unexpectedly; its lease is given back", claim.delivery_id
            )
        finally:
            remaining = self._sending[claim.webhook_id] - 1
            if remaining > 0:
                self._sending[claim.webhook_id] = remaining
            else:
                del self._sending[claim.webhook_id]
            if not recorded:
                self._to_release.append(claim.delivery_id)
                self._results_ready.set()
            self._poke.set()

    # -- recording -----------------------------------------------------------------------------
    async def _record_loop(self) -> None:
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            if not self._stopping and len(self._results) < self._config.record_batch:
                await asyncio.sleep(self._config.flush_interval)
            await self._flush()
            if self._stopping and not self._tasks and not self._results and not self._to_release:
                return

    async def _flush(self) -> None:
        while self._results:
            batch = self._results[: self._config.record_batch]
            await self._write(batch)
            del self._results[: len(batch)]
            for outcome in batch:
                self._held.pop(outcome.attempt.delivery_id, None)
            self.recorded += len(batch)
            self._poke.set()
        if self._to_release:
            ids, self._to_release = self._to_release, []
            try:
                await self._store.release(ids, worker_id=self.worker_id)
            except StoreError as exc:
                log.error(
                    "could not give back %d leases (%s); they expire by themselves", len(ids), exc
                )
            for delivery_id in ids:
                self._held.pop(delivery_id, None)
            self._poke.set()

    async def _write(self, batch: list[AttemptOutcome]) -> None:
        delay = 0.1
        while True:
            now = self._clock()
            try:
                disabled = await self._store.record(
                    batch,
                    worker_id=self.worker_id,
                    now=now,
                    disable_failing_since=now - self._config.disable_after,
                )
            except StoreError as exc:
                if self._stopping and delay > 5:
                    log.error(
                        "giving up recording %d attempts at shutdown (%s); their leases expire "
                        "and they will be delivered again",
                        len(batch),
                        exc,
                    )
                    return
                log.error("recording %d attempts failed (%s); retrying", len(batch), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            for webhook_id in disabled:
                log.warning("deactivated webhook %s (see its disabledReason)", webhook_id)
            return

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(self._config.purge_interval)
            now = self._clock()
            try:
                removed = await self._store.purge(
                    completed_before=now - self._config.log_retention,
                    idempotency_before=now - timedelta(hours=24),
                )
            except StoreError as exc:
                log.error("purging old delivery logs failed: %s", exc)
                continue
            if removed:
                log.info("purged %d completed deliveries older than the retention", removed)
