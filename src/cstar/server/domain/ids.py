"""Identifier formats: ``whk_``, ``whsec_``, ``key_``, ``req_`` and team UUIDs.

Random parts come from the system's CSPRNG and use base62 so ids survive copy-paste and URLs
intact.
"""

from __future__ import annotations

import base64
import os
import re
import string
import threading
import uuid

_BASE62 = string.digits + string.ascii_letters

WEBHOOK_PREFIX = "whk_"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
KEY_ID_PREFIX = "key_"
REQUEST_PREFIX = "req_"

_WEBHOOK_ID = re.compile(r"whk_[0-9A-Za-z]{12,40}")
_KEY_ID = re.compile(r"key_[0-9A-Za-z]{12,40}")


class _Entropy:
    """Bytes from ``os.urandom``, drawn 4 KiB at a time and handed out once each.

    ``os.urandom`` is a system call (~12 µs here): one per id was a tenth of a publish's cost.
    The bytes are the kernel CSPRNG's own, each used once; a forked child starts with a fresh
    buffer so that no two processes hand out the same bytes."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0

    def take(self, count: int) -> bytes:
        with self._lock:
            if self._offset + count > len(self._buffer):
                self._buffer = os.urandom(max(self._size, count))
                self._offset = 0
            start = self._offset
            self._offset += count
            return self._buffer[start : self._offset]

    def reset(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0

    def below(self, limit: int) -> int:
        """A uniformly random integer in ``[0, limit)`` (rejection sampling)."""
        bits = (limit - 1).bit_length()
        size = (bits + 7) // 8
        while True:
            number = int.from_bytes(self.take(size), "big") >> (size * 8 - bits)
            if number < limit:
                return number


_ENTROPY = _Entropy()
os.register_at_fork(after_in_child=_ENTROPY.reset)


def random_bytes(count: int) -> bytes:
    return _ENTROPY.take(count)


def random_base62(length: int) -> str:
    """``length`` uniformly random base62 characters, from one draw of the system's CSPRNG.

    (One ``secrets.choice`` per character was one ``os.urandom`` call per character: a third of
    the server's time when publishing batches.)"""
    number = _ENTROPY.below(62**length)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


def new_webhook_id() -> str:
    return WEBHOOK_PREFIX + random_base62(20)


def new_signing_secret() -> str:
    """``whsec_`` and 40 base62 characters (about 238 bits)."""
    return SECRET_PREFIX + random_base62(40)


def new_standard_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode("ascii")


def new_key_id() -> str:
    return KEY_ID_PREFIX + random_base62(20)


def new_request_id() -> str:
    return REQUEST_PREFIX + _ENTROPY.take(12).hex()


def new_team_id() -> str:
    return str(uuid.uuid4())


def is_webhook_id(value: str) -> bool:
    return _WEBHOOK_ID.fullmatch(value) is not None


def is_key_id(value: str) -> bool:
    return _KEY_ID.fullmatch(value) is not None
