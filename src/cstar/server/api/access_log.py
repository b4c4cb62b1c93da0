"""The stderr access log says where requests went, never with the keys or secrets in them.

uvicorn's ``uvicorn.access`` logger prints each request's path and query string. A client may
put a key in a URL (``?api_key=sk_test_...``, ``/webhooks/whsec_...``): this filter rewrites the
path as the API request log keeps it (:func:`loggable_path`: the names of query parameters, never
their values, and ``[redacted]`` for anything that looks like a key or a secret).
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from cstar.server.domain.request_logs import loggable_path

#: ``'%s - "%s %s HTTP/%s" %d'``: client, method, path with query string, version, status.
_PATH_ARG = 2


class RedactingAccessFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > _PATH_ARG:
            path = args[_PATH_ARG]
            if isinstance(path, str):
                record.args = (*args[:_PATH_ARG], shown_path(path), *args[_PATH_ARG + 1 :])
        return True


def shown_path(path_with_query: str) -> str:
    """uvicorn's ``/quoted/path?raw=query`` as the request log shows it."""
    path, _, query = path_with_query.partition("?")
    return loggable_path(unquote(path), query.encode("latin-1", "replace"))
