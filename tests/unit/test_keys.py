"""Unit tests for API key generation, parsing and hashing in ``cstar.server.domain.keys``."""

from __future__ import annotations

import hashlib
import re
import string

import pytest

from cstar.server.domain.keys import (
    DISPLAY_PREFIX_LENGTH,
    NewKey,
    generate_key,
    hash_key,
    parse_key,
)
from cstar.server.domain.models import KeyKind, KeyMode

BASE62 = set(string.digits + string.ascii_letters)
COMBINATIONS = [
    (KeyKind.SECRET, KeyMode.TEST, "sk_test_"),
    (KeyKind.SECRET, KeyMode.LIVE, "sk_live_"),
    (KeyKind.PUBLISHABLE, KeyMode.TEST, "pk_test_"),
    (KeyKind.PUBLISHABLE, KeyMode.LIVE, "pk_live_"),
]


# ---------------------------------------------------------------------------------------------
# generate_key
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "mode", "prefix"), COMBINATIONS)
def test_generate_key_format(kind: KeyKind, mode: KeyMode, prefix: str) -> None:
    key = generate_key(kind, mode)

    assert isinstance(key, NewKey)
    assert key.kind is kind
    assert key.mode is mode
    assert re.fullmatch(re.escape(prefix) + r"[0-9A-Za-z]{32}", key.raw)
    assert len(key.raw) == len(prefix) + 32


@pytest.mark.parametrize(("kind", "mode", "prefix"), COMBINATIONS)
def test_generate_key_display_fields_and_hash_are_consistent(
    kind: KeyKind, mode: KeyMode, prefix: str
) -> None:
    key = generate_key(kind, mode)

    assert DISPLAY_PREFIX_LENGTH == 12
    assert key.prefix == key.raw[:12]
    assert key.prefix.startswith(prefix)
    assert len(key.prefix) == 12
    assert key.last4 == key.raw[-4:]
    assert len(key.last4) == 4
    assert set(key.last4) <= BASE62
    assert key.key_hash == hash_key(key.raw)
    assert re.fullmatch(r"[0-9a-f]{64}", key.key_hash)


@pytest.mark.parametrize(("kind", "mode", "prefix"), COMBINATIONS)
def test_generated_key_parses_back_to_its_kind_and_mode(
    kind: KeyKind, mode: KeyMode, prefix: str
) -> None:
    key = generate_key(kind, mode)

    assert parse_key(key.raw) == (kind, mode)


def test_generated_key_is_not_its_hash_or_display_fields() -> None:
    key = generate_key(KeyKind.SECRET, KeyMode.LIVE)

    assert key.raw not in (key.key_hash, key.prefix, key.last4)
    assert key.raw[12:-4] not in key.prefix + key.last4


def test_generated_keys_are_unique() -> None:
    keys = [generate_key(KeyKind.SECRET, KeyMode.TEST) for _ in range(2000)]

    assert len({k.raw for k in keys}) == 2000
    assert len({k.key_hash for k in keys}) == 2000
    # 32 random characters each: the random parts are unique too, not just the whole string.
    assert len({k.raw[len("sk_test_") :] for k in keys}) == 2000


def test_generated_keys_use_the_whole_base62_alphabet() -> None:
    seen: set[str] = set()
    for _ in range(1000):
        seen.update(generate_key(KeyKind.PUBLISHABLE, KeyMode.LIVE).raw[len("pk_live_") :])

    assert seen == BASE62


def test_new_key_is_frozen() -> None:
    key = generate_key(KeyKind.SECRET, KeyMode.TEST)

    with pytest.raises(AttributeError):
        key.raw = "sk_test_" + "a" * 32  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# parse_key
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sk_test_" + "a" * 32, (KeyKind.SECRET, KeyMode.TEST)),
        ("sk_live_" + "Z" * 32, (KeyKind.SECRET, KeyMode.LIVE)),
        ("pk_test_" + "0" * 32, (KeyKind.PUBLISHABLE, KeyMode.TEST)),
        ("pk_live_" + "aZ09" * 8, (KeyKind.PUBLISHABLE, KeyMode.LIVE)),
        ("sk_test_" + "b" * 24, (KeyKind.SECRET, KeyMode.TEST)),
        ("pk_live_" + "c" * 64, (KeyKind.PUBLISHABLE, KeyMode.LIVE)),
    ],
)
def test_parse_key_accepts_well_formed_keys(raw: str, expected: tuple[KeyKind, KeyMode]) -> None:
    assert parse_key(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "sk_test_",
        "sk_test_" + "a" * 23,
        "sk_test_" + "a" * 65,
        "sk_prod_" + "a" * 32,
        "rk_test_" + "a" * 32,
        "ak_live_" + "a" * 32,
        "SK_TEST_" + "a" * 32,
        "sk_Test_" + "a" * 32,
        "sk-test-" + "a" * 32,
        "sktest_" + "a" * 32,
        "sk_test" + "a" * 32,
        "sk_test_" + "a" * 31 + "-",
        "sk_test_" + "a" * 31 + "_",
        "sk_test_" + "a" * 31 + "=",
        "sk_test_" + "a" * 31 + "\u00e9",
        "sk_test_" + "\u0663" * 32,
        " sk_test_" + "a" * 32,
        "sk_test_" + "a" * 32 + " ",
        "sk_test_" + "a" * 32 + "\n",
        "Bearer sk_test_" + "a" * 32,
        "whsec_" + "a" * 40,
        "key_" + "a" * 20,
    ],
)
def test_parse_key_rejects_malformed(raw: str) -> None:
    assert parse_key(raw) is None


# ---------------------------------------------------------------------------------------------
# hash_key
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "digest"),
    [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ],
)
def test_hash_key_is_sha256_hex(raw: str, digest: str) -> None:
    assert hash_key(raw) == digest


def test_hash_key_is_deterministic_and_distinguishes_keys() -> None:
    raw = "sk_test_" + "a" * 32

    assert hash_key(raw) == hash_key(raw)
    assert hash_key(raw) != hash_key("sk_test_" + "a" * 31 + "b")
    assert hash_key(raw) != hash_key("sk_live_" + "a" * 32)
    assert re.fullmatch(r"[0-9a-f]{64}", hash_key(raw))


def test_hash_key_encodes_utf8() -> None:
    assert hash_key("\u00e9") == hashlib.sha256(b"\xc3\xa9").hexdigest()
    assert hash_key("\u00e9") != hashlib.sha256(b"\xe9").hexdigest()
