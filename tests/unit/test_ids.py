"""Unit tests for identifier formats and validators in ``cstar.server.domain.ids``."""

from __future__ import annotations

import re
import string
import uuid
from collections.abc import Callable

import pytest

from cstar.server.domain.ids import (
    KEY_ID_PREFIX,
    REQUEST_PREFIX,
    SECRET_PREFIX,
    WEBHOOK_PREFIX,
    is_key_id,
    is_webhook_id,
    new_key_id,
    new_request_id,
    new_signing_secret,
    new_team_id,
    new_webhook_id,
    random_base62,
)

BASE62 = set(string.digits + string.ascii_letters)


def test_prefixes() -> None:
    assert WEBHOOK_PREFIX == "whk_"
    assert SECRET_PREFIX == "whsec_"
    assert KEY_ID_PREFIX == "key_"
    assert REQUEST_PREFIX == "req_"


# ---------------------------------------------------------------------------------------------
# random_base62
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 12, 20, 40, 100])
def test_random_base62_length_and_alphabet(length: int) -> None:
    value = random_base62(length)

    assert len(value) == length
    assert set(value) <= BASE62


def test_random_base62_uses_every_character() -> None:
    assert set(random_base62(20_000)) == BASE62


# ---------------------------------------------------------------------------------------------
# generators
# ---------------------------------------------------------------------------------------------


def test_new_webhook_id_format() -> None:
    value = new_webhook_id()

    assert re.fullmatch(r"whk_[0-9A-Za-z]{20}", value)


def test_new_key_id_format() -> None:
    value = new_key_id()

    assert re.fullmatch(r"key_[0-9A-Za-z]{20}", value)


def test_new_signing_secret_format() -> None:
    value = new_signing_secret()

    assert re.fullmatch(r"whsec_[0-9A-Za-z]{40}", value)


def test_new_request_id_format() -> None:
    value = new_request_id()

    assert re.fullmatch(r"req_[0-9a-f]{24}", value)


def test_new_team_id_is_a_canonical_uuid4() -> None:
    value = new_team_id()
    parsed = uuid.UUID(value)

    assert parsed.version == 4
    assert str(parsed) == value
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value
    )


@pytest.mark.parametrize(
    "generate",
    [new_webhook_id, new_key_id, new_signing_secret, new_request_id, new_team_id],
)
def test_generated_ids_are_unique(generate: Callable[[], str]) -> None:
    values = [generate() for _ in range(2000)]

    assert len(set(values)) == len(values)


# ---------------------------------------------------------------------------------------------
# validators
# ---------------------------------------------------------------------------------------------


def test_validators_accept_generated_ids() -> None:
    for _ in range(200):
        webhook_id = new_webhook_id()
        key_id = new_key_id()

        assert is_webhook_id(webhook_id)
        assert is_key_id(key_id)
        assert not is_webhook_id(key_id)
        assert not is_key_id(webhook_id)


@pytest.mark.parametrize(("prefix", "validator"), [("whk_", is_webhook_id), ("key_", is_key_id)])
@pytest.mark.parametrize("length", [12, 13, 20, 39, 40])
def test_validators_accept_body_lengths_12_to_40(
    prefix: str, validator: Callable[[str], bool], length: int
) -> None:
    body = ("aB3" * 14)[:length]
    assert len(body) == length

    assert validator(prefix + body) is True


@pytest.mark.parametrize(("prefix", "validator"), [("whk_", is_webhook_id), ("key_", is_key_id)])
@pytest.mark.parametrize(
    "body",
    [
        "",
        "a" * 11,
        "a" * 41,
        "a" * 19 + "-",
        "a" * 19 + "_",
        "a" * 19 + " ",
        "a" * 19 + "\u00e9",
        "\u0663" * 20,
        "a" * 20 + "\n",
    ],
)
def test_validators_reject_bad_bodies(
    prefix: str, validator: Callable[[str], bool], body: str
) -> None:
    assert validator(prefix + body) is False


@pytest.mark.parametrize(
    "value",
    [
        "",
        "whk",
        "WHK_" + "a" * 20,
        "whk-" + "a" * 20,
        "whsec_" + "a" * 20,
        "key_" + "a" * 20,
        " whk_" + "a" * 20,
        "xwhk_" + "a" * 20,
        "req_" + "a" * 24,
    ],
)
def test_is_webhook_id_rejects_other_values(value: str) -> None:
    assert is_webhook_id(value) is False


@pytest.mark.parametrize(
    "value",
    [
        "",
        "key",
        "KEY_" + "a" * 20,
        "key-" + "a" * 20,
        "whk_" + "a" * 20,
        "sk_test_" + "a" * 32,
        " key_" + "a" * 20,
        "apikey_" + "a" * 20,
        str(uuid.uuid4()),
    ],
)
def test_is_key_id_rejects_other_values(value: str) -> None:
    assert is_key_id(value) is False


def test_buffered_entropy_hands_out_each_byte_once_and_refills() -> None:
    from cstar.server.domain.ids import _Entropy

    entropy = _Entropy(size=64)
    drawn = b"".join(entropy.take(7) for _ in range(100))
    assert len(drawn) == 700
    # 700 bytes over 64-byte refills: no 16-byte window repeats (a reused buffer would).
    windows = [drawn[i : i + 16] for i in range(0, 700 - 16, 16)]
    assert len(set(windows)) == len(windows)
    assert len(entropy.take(200)) == 200  # more than one buffer at once


def test_below_is_uniform_enough_and_in_range() -> None:
    from collections import Counter

    from cstar.server.domain.ids import _Entropy

    entropy = _Entropy()
    counts = Counter(entropy.below(62) for _ in range(62_000))
    assert set(counts) == set(range(62))
    assert min(counts.values()) > 800  # expected 1,000 each
    assert max(counts.values()) < 1200


def test_a_forked_child_does_not_reuse_the_parents_buffer() -> None:
    import os

    from cstar.server.domain.ids import random_base62

    random_base62(8)  # the parent's buffer is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, random_base62(20).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert child != random_base62(20)
