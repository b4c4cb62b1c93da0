"""Identifier formats: ``whk_``, ``whsec_``, ``key_``, ``req_`` and team UUIDs.

Random parts come from :mod:`secrets` and use base62 so ids survive copy-paste and URLs intact.
"""

from __future__ import annotations

import re
import secrets
import string
import uuid

_BASE62 = string.digits + string.ascii_letters

WEBHOOK_PREFIX = "whk_"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
KEY_ID_PREFIX = "key_"
REQUEST_PREFIX = "req_"

_WEBHOOK_ID = re.compile(r"whk_[0-9A-Za-z]{12,40}")
_KEY_ID = re.compile(r"key_[0-9A-Za-z]{12,40}")


def random_base62(length: int) -> str:
    """``length`` uniformly random base62 characters, from one draw of the system's CSPRNG.

    (One ``secrets.choice`` per character was one ``os.urandom`` call per character: a third of
    the server's time when publishing batches.)"""
    number = secrets.randbelow(62**length)
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


def new_key_id() -> str:
    return KEY_ID_PREFIX + random_base62(20)


def new_request_id() -> str:
    return REQUEST_PREFIX + secrets.token_hex(12)


def new_team_id() -> str:
    return str(uuid.uuid4())


def is_webhook_id(value: str) -> bool:
    return _WEBHOOK_ID.fullmatch(value) is not None


def is_key_id(value: str) -> bool:
    return _KEY_ID.fullmatch(value) is not None
