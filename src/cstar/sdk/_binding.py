"""Turning the operation builders of ``_operations`` into methods of the sync and async
resource namespaces, with their exact types.

``sync_op(ops.get_webhook)`` is a method taking ``get_webhook``'s parameters and returning what
its operation's ``parse`` returns (``Webhook``); for a list builder, a ``Page``. ``async_op`` is
the same returning a coroutine (for a list, an ``AsyncPager``). Each method builds the operation
(checking the arguments there) and hands it to the client that owns the namespace.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

from cstar.sdk._operations import Operation, PagedOperation
from cstar.sdk.pagination import AsyncPage, AsyncPager, Page

P = ParamSpec("P")
T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item type of a list


class SyncExecutor(Protocol):
    def _call(self, op: Operation[T], /) -> T: ...

    def _page(self, paged: PagedOperation[I], cursor: str | None = None, /) -> Page[I]: ...


class AsyncExecutor(Protocol):
    async def _call(self, op: Operation[T], /) -> T: ...

    async def _page(
        self, paged: PagedOperation[I], cursor: str | None = None, /
    ) -> AsyncPage[I]: ...


class SyncResource:
    """Base of ``client.webhooks`` and the other namespaces of ``CStarClient``."""

    __slots__ = ("_client",)

    def __init__(self, client: SyncExecutor) -> None:
        self._client = client


class AsyncResource:
    """Base of ``client.webhooks`` and the other namespaces of ``AsyncCStarClient``."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncExecutor) -> None:
        self._client = client


def _describe(method: Callable[..., Any], build: Callable[..., Any]) -> None:
    """Give ``method`` the name, docstring and signature (plus ``self``) of ``build``."""
    method.__name__ = build.__name__
    method.__qualname__ = build.__qualname__
    method.__doc__ = build.__doc__
    method.__module__ = build.__module__
    signature = inspect.signature(build)
    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[this, *signature.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )


@overload
def sync_op(
    build: Callable[P, PagedOperation[I]],
) -> Callable[Concatenate[SyncResource, P], Page[I]]: ...
@overload
def sync_op(build: Callable[P, Operation[T]]) -> Callable[Concatenate[SyncResource, P], T]: ...
def sync_op(build: Callable[P, Any]) -> Callable[Concatenate[SyncResource, P], Any]:
    def method(self: SyncResource, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        op = build(*args, **kwargs)
        if isinstance(op, PagedOperation):
            return self._client._page(op)
        return self._client._call(op)

    _describe(method, build)
    return method


@overload
def async_op(
    build: Callable[P, PagedOperation[I]],
) -> Callable[Concatenate[AsyncResource, P], AsyncPager[I]]: ...
@overload
def async_op(
    build: Callable[P, Operation[T]],
) -> Callable[Concatenate[AsyncResource, P], Coroutine[Any, Any, T]]: ...
def async_op(build: Callable[P, Any]) -> Callable[Concatenate[AsyncResource, P], Any]:
    def method(self: AsyncResource, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        # Built now, so a bad argument raises at the call, not later at the await.
        op = build(*args, **kwargs)
        client = self._client
        if isinstance(op, PagedOperation):
            return AsyncPager(lambda: client._page(op))
        return client._call(op)

    _describe(method, build)
    return method
