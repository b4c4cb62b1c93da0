"""The hand-written alternative that ``bench/compare.py`` measures cStar against: a Celery task
that signs a JSON body like cStar does and posts it with ``requests``, retried on failure, Redis
as the broker, no result backend and no record of any attempt.

Run by ``bench/compare.py`` as ``python -m celery -A bench.compare_celery worker``; the broker is
``COMPARE_REDIS_URL`` (default ``redis://127.0.0.1:6379/9``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time

import redis
import requests
from celery import Celery

BROKER = os.environ.get("COMPARE_REDIS_URL", "redis://127.0.0.1:6379/9")
#: The queue the backlog waits in (the worker starts on another, idle one; see compare.py).
QUEUE = "webhooks"
#: Incremented by the task after each 2xx: how compare.py sees the backlog drained.
DELIVERED = "compare:delivered"

app = Celery("cstar_compare", broker=BROKER)
app.conf.update(
    task_default_queue=QUEUE,
    # Fire and forget: nothing is stored about a task's outcome, let alone each attempt's.
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    # worker_prefetch_multiplier stays at Celery's default (4).
)

_session: requests.Session | None = None
_counter: redis.Redis | None = None
_pid = 0


def _clients() -> tuple[requests.Session, redis.Redis]:
    """One ``requests.Session`` (and one Redis client) per worker process, made in the process
    that uses it (prefork children must not share their parent's sockets)."""
    global _session, _counter, _pid
    if _session is None or _counter is None or _pid != os.getpid():
        _session = requests.Session()
        _session.trust_env = False  # no environment proxies: the receiver is on 127.0.0.1
        _counter = redis.Redis.from_url(app.conf.broker_url)
        _pid = os.getpid()
    return _session, _counter


@app.task(
    name="compare.deliver",
    autoretry_for=(requests.RequestException,),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
    acks_late=True,
    reject_on_worker_lost=True,
)
def deliver(url: str, secret: str, body: str) -> None:
    """POST ``body`` to ``url`` signed as cStar signs (``X-Signature: t=<unix>,v1=<hex>``, the
    HMAC-SHA256 of ``"{t}.{body}"``); any error or non-2xx answer is retried with backoff."""
    session, counter = _clients()
    payload = body.encode("utf-8")
    timestamp = int(time.time())
    signature = hmac.new(
        secret.encode("utf-8"), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    response = session.post(
        url,
        data=payload,
        headers={
            "Content-Type": "application/json",
            "X-Signature": f"t={timestamp},v1={signature}",
        },
        timeout=10,
        allow_redirects=False,
    )
    if not 200 <= response.status_code < 300:
        raise requests.HTTPError(f"endpoint answered {response.status_code}", response=response)
    counter.incr(DELIVERED)
