"""API keys recently looked up, so that a request does not cost a database read to authenticate.

An entry maps a key's SHA-256 to its stored record and lives ``ttl`` seconds. Only keys found
active are kept (a wrong key costs a lookup every time, and the per-address limit on failed
authentications bounds those), at most ``max_entries`` of them, least recently fetched dropped
first. Concurrent lookups of the same key while it is not cached share one read.

A revocation in this process drops the key at once (:meth:`forget`); one made by another process
takes effect here when the entry expires, as does deleting a team's row.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from cstar.server.domain.models import ApiKey

DEFAULT_MAX_ENTRIES = 10_000


class KeyCache:
    def __init__(
        self,
        lookup: Callable[[str], Awaitable[ApiKey | None]],
        *,
        ttl: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._max = max_entries
        self._now = monotonic
        self._entries: OrderedDict[str, tuple[ApiKey, float]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[ApiKey | None]] = {}
        #: Bumped by every revocation: a read that began before one is not kept.
        self._generation = 0

    async def find(self, digest: str) -> ApiKey | None:
        """The active key with this hash, or ``None``."""
        entry = self._entries.get(digest)
        if entry is not None and entry[1] > self._now():
            return entry[0]
        pending = self._pending.get(digest)
        if pending is not None:
            await asyncio.wait([pending])
            if not pending.cancelled() and pending.exception() is None:
                return pending.result()
            return await self._lookup(digest)  # the shared read failed: try on our own
        future: asyncio.Future[ApiKey | None] = asyncio.get_running_loop().create_future()
        self._pending[digest] = future
        generation = self._generation
        try:
            key = await self._lookup(digest)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marked retrieved: there may be nobody else waiting
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._pending[digest]
        future.set_result(key)
        if generation == self._generation:  # no revocation happened while we read
            self._keep(digest, key)
        return key

    def _keep(self, digest: str, key: ApiKey | None) -> None:
        self._entries.pop(digest, None)
        if key is None or not key.is_active or self._ttl <= 0:
            return
        self._entries[digest] = (key, self._now() + self._ttl)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, key_id: str) -> None:
        """Drop a key (by id) that this process has just revoked."""
        self._generation += 1
        for digest in [d for d, (key, _) in self._entries.items() if key.id == key_id]:
            del self._entries[digest]

    def __len__(self) -> int:
        return len(self._entries)
