"""Pages of list results, and walking all of them.

A list method returns its first page: ``.data`` holds this page's items, ``.has_more`` and
``.next_cursor`` say whether and where the list goes on. Iterating a page yields every item of
every page from there on, fetching each next page only when the previous one is used up::

    for webhook in client.webhooks.list(limit=50):            # sync
        ...
    async for webhook in client.webhooks.list(limit=50):      # async, no await needed
        ...
    page = await async_client.webhooks.list()                 # async, the first page only
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from cstar.sdk.models import Meta

__all__ = ["AsyncPage", "AsyncPager", "Page"]

I = TypeVar("I")  # noqa: E741 - the item type


def _position(meta: Meta) -> tuple[bool, str | None]:
    if meta.pagination is None:
        return False, None
    return meta.pagination.has_more, meta.pagination.next_cursor


@dataclass(frozen=True, slots=True)
class Page(Generic[I]):
    """One page of a list; iterate it to walk every page from here on."""

    data: list[I]
    has_more: bool
    next_cursor: str | None
    meta: Meta = field(repr=False)
    _fetch: Callable[[str], Page[I]] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: list[I], meta: Meta, fetch: Callable[[str], Page[I]]) -> Page[I]:
        has_more, cursor = _position(meta)
        return cls(data, has_more, cursor, meta, fetch)

    def next_page(self) -> Page[I] | None:
        """The page after this one (one request), or ``None`` on the last page."""
        if not self.has_more or self.next_cursor is None:
            return None
        return self._fetch(self.next_cursor)

    def iter_pages(self) -> Iterator[Page[I]]:
        """This page and every one after it."""
        page: Page[I] | None = self
        while page is not None:
            yield page
            page = page.next_page()

    def __iter__(self) -> Iterator[I]:
        for page in self.iter_pages():
            yield from page.data


@dataclass(frozen=True, slots=True)
class AsyncPage(Generic[I]):
    """One page of a list; ``async for`` over it walks every page from here on."""

    data: list[I]
    has_more: bool
    next_cursor: str | None
    meta: Meta = field(repr=False)
    _fetch: Callable[[str], Awaitable[AsyncPage[I]]] = field(repr=False, compare=False)

    @classmethod
    def of(
        cls, data: list[I], meta: Meta, fetch: Callable[[str], Awaitable[AsyncPage[I]]]
    ) -> AsyncPage[I]:
        has_more, cursor = _position(meta)
        return cls(data, has_more, cursor, meta, fetch)

    async def next_page(self) -> AsyncPage[I] | None:
        """The page after this one (one request), or ``None`` on the last page."""
        if not self.has_more or self.next_cursor is None:
            return None
        return await self._fetch(self.next_cursor)

    async def iter_pages(self) -> AsyncIterator[AsyncPage[I]]:
        """This page and every one after it."""
        page: AsyncPage[I] | None = self
        while page is not None:
            yield page
            page = await page.next_page()

    def __aiter__(self) -> AsyncIterator[I]:
        return self._items()

    async def _items(self) -> AsyncIterator[I]:
        async for page in self.iter_pages():
            for item in page.data:
                yield item


class AsyncPager(Generic[I]):
    """What an async list method returns: ``await`` it for the first page (an ``AsyncPage``),
    or ``async for`` over it for every item of every page."""

    __slots__ = ("_first",)

    def __init__(self, first: Callable[[], Awaitable[AsyncPage[I]]]) -> None:
        self._first = first

    def __await__(self) -> Generator[Any, None, AsyncPage[I]]:
        return self._get().__await__()

    async def _get(self) -> AsyncPage[I]:
        return await self._first()

    def __aiter__(self) -> AsyncIterator[I]:
        return self._items()

    async def _items(self) -> AsyncIterator[I]:
        page = await self._first()
        async for item in page:
            yield item
