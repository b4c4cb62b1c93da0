"""Helpers for tests that run the same steps with the sync and the async client."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeAlias, TypeVar, cast

from cstar.sdk import AsyncCStarClient, AsyncPage, AsyncPager, CStarClient, Page

T = TypeVar("T")
Flavor: TypeAlias = Literal["sync", "async"]
AnyClient: TypeAlias = CStarClient | AsyncCStarClient
AnyPage: TypeAlias = Page[T] | AsyncPage[T]
FLAVORS: tuple[Flavor, ...] = ("sync", "async")


def make_client(flavor: Flavor, **kwargs: Any) -> AnyClient:
    return CStarClient(**kwargs) if flavor == "sync" else AsyncCStarClient(**kwargs)


async def close_client(client: AnyClient) -> None:
    await resolve(client.close())


async def resolve(value: Awaitable[T] | T) -> T:
    """The value itself (sync client), or what awaiting it gives (async client)."""
    if inspect.isawaitable(value):
        return cast(T, await value)
    return value


async def first_page(listed: Page[T] | AsyncPager[T]) -> AnyPage[T]:
    return listed if isinstance(listed, Page) else await listed


async def collect(listed: Page[T] | AsyncPage[T] | AsyncPager[T]) -> list[T]:
    """Every item of every page, walking the pages as a user would."""
    if isinstance(listed, Page):
        return list(listed)
    return [item async for item in listed]


async def pages_of(page: AnyPage[T]) -> list[AnyPage[T]]:
    if isinstance(page, Page):
        return list(page.iter_pages())
    return [p async for p in page.iter_pages()]


async def eventually(check: Callable[[], Awaitable[T | None]], *, timeout: float = 15.0) -> T:
    """Poll ``check`` until it returns something other than None (at most ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.1)
