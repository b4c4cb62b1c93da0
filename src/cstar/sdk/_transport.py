"""The HTTP client ``AsyncCStarClient`` makes for itself when none is passed in.

httpx's own async transport slows down as calls overlap (against nginx here: 1,860 requests/s
with one call in flight, 750/s with 16, 210/s with 64). With the ``fast`` extra installed
(``pip install 'cstar[fast]'``), the client is ``httpx_aiohttp.HttpxAiohttpClient``: the same
``httpx.AsyncClient`` API, requests and errors (aiohttp's are raised as httpx's), sent through
aiohttp's connection pool. Publishing through the SDK with 16 calls in flight: 1.8x
(``bench/sdk_publish.py``). Without the extra, plain ``httpx.AsyncClient``.
"""

from __future__ import annotations

import importlib.util

import httpx

from cstar.sdk._config import Timeout


def fast_transport_available() -> bool:
    return importlib.util.find_spec("httpx_aiohttp") is not None


def default_http_client(timeout: Timeout) -> httpx.AsyncClient:
    if fast_transport_available():
        from httpx_aiohttp import HttpxAiohttpClient

        return HttpxAiohttpClient(timeout=timeout)
    return httpx.AsyncClient(timeout=timeout)
