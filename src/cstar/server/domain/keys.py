"""API key format, generation and hashing.

Keys look like ``sk_test_<32 base62>`` (secret) or ``pk_live_<32 base62>`` (publishable). They carry
about 190 bits of randomness, so a plain SHA-256 is the right stored form: it cannot be reversed or
guessed, and it lets a request find its key with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cstar.server.domain.errors import InvalidParameter, PermissionDenied
from cstar.server.domain.ids import random_base62
from cstar.server.domain.models import KeyKind, KeyMode
from cstar.server.domain.text import has_control_characters

_KEY = re.compile(r"(sk|pk)_(test|live)_[0-9A-Za-z]{24,64}")
_KIND_BY_PREFIX = {"sk": KeyKind.SECRET, "pk": KeyKind.PUBLISHABLE}
_PREFIX_BY_KIND = {KeyKind.SECRET: "sk", KeyKind.PUBLISHABLE: "pk"}
DISPLAY_PREFIX_LENGTH = 12
KEY_NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key: ``raw`` is shown once and then forgotten."""

    raw: str
    kind: KeyKind
    mode: KeyMode
    prefix: str
    last4: str
    key_hash: str


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def parse_key(raw: str) -> tuple[KeyKind, KeyMode] | None:
    """Kind and mode of a well-formed key, ``None`` for anything else."""
    match = _KEY.fullmatch(raw)
    if match is None:
        return None
    return _KIND_BY_PREFIX[match.group(1)], KeyMode(match.group(2))


def generate_key(kind: KeyKind, mode: KeyMode) -> NewKey:
    raw = f"{_PREFIX_BY_KIND[kind]}_{mode.value}_{random_base62(32)}"
    return NewKey(
        raw=raw,
        kind=kind,
        mode=mode,
        prefix=raw[:DISPLAY_PREFIX_LENGTH],
        last4=raw[-4:],
        key_hash=hash_key(raw),
    )


def clean_key_name(name: str | None, kind: KeyKind) -> str:
    """A key's label: as given (trimmed), or ``Secret key`` / ``Publishable key``."""
    label = (name or "").strip() or f"{kind.value.capitalize()} key"
    if len(label) > KEY_NAME_MAX:
        raise InvalidParameter("name", f"name must be at most {KEY_NAME_MAX} characters")
    if has_control_characters(label):
        raise InvalidParameter("name", "name must not contain control characters")
    return label


def check_may_create(creator_mode: KeyMode, mode: KeyMode) -> None:
    """A test-mode key may create test-mode keys only: test credentials, which are handed out
    more freely, must not lead to live ones."""
    if creator_mode is KeyMode.TEST and mode is KeyMode.LIVE:
        raise PermissionDenied(
            "A test-mode key cannot create live-mode keys: use a live secret key (sk_live_...)"
        )
