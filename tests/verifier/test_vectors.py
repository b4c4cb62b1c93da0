"""The shared signature vectors (``spec/webhook-signature-vectors.json``): the file is what its
generator produces, every valid vector checks out with plain ``hmac``, and the verifier and the
dispatcher's signer agree with every vector. Also a bounded fuzz of the header parser."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

import cstar.webhook
from cstar.server.dispatch.request import delivery_headers
from cstar.webhook import (
    WebhookSignatureVerificationError,
    construct_event,
    generate_header,
    verify_header,
    verify_signature,
)

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec"
VECTORS_FILE = SPEC / "webhook-signature-vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))["vectors"]
BY_NAME = {v["name"]: v for v in VECTORS}

CATEGORIES = {
    "valid",
    "bad_signature",
    "timestamp_outside_tolerance",
    "malformed_header",
    "no_signatures",
}

#: What the verifier's messages mean, in the vectors' words.
MESSAGE_CATEGORIES = {
    "No signature header": "malformed_header",
    "Signature header too long": "malformed_header",
    "Malformed signature header": "malformed_header",
    "No signatures found": "no_signatures",
    "No signature matches": "bad_signature",
    "Timestamp outside the tolerance zone": "timestamp_outside_tolerance",
}

#: The cases the issue asks the vectors to cover, by name.
REQUIRED = {
    "valid_plain",
    "valid_seed_001_envelope_utf8",
    "valid_rotation_two_v1",
    "wrong_secret",
    "tampered_body_one_byte",
    "timestamp_too_old",
    "timestamp_old_just_inside",
    "timestamp_too_far_in_future",
    "legacy_sha256",
    "spaces_around_parts",
    "empty_header",
    "missing_t",
    "non_numeric_t",
    "v1_non_hex",
    "unknown_scheme_only",
    "duplicated_t",
    "uppercase_hex",
}


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_vectors", SPEC / "generate_vectors.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def secrets_of(vector: dict[str, Any]) -> list[str]:
    return list(vector["secrets"]) if "secrets" in vector else [vector["secret"]]


def payloads_of(vector: dict[str, Any]) -> list[bytes | str]:
    """The body as the decoded string and as the UTF-8 bytes: both must give the same answer."""
    text: str = vector["payload"]
    return [text, text.encode("utf-8")]


def category(error: WebhookSignatureVerificationError) -> str:
    message = str(error)
    for prefix, name in MESSAGE_CATEGORIES.items():
        if message.startswith(prefix):
            return name
    raise AssertionError(f"unexpected message {message!r}")


def plain_fields(header: str) -> list[tuple[str, str]]:
    """The header's ``key=value`` parts, parsed here without any cstar code."""
    fields = []
    for part in header.split(","):
        key, _, value = part.partition("=")
        fields.append((key.strip(), value.strip()))
    return fields


def plain_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def plain_matching_timestamps(vector: dict[str, Any], secret: str) -> list[int]:
    """The header's ``t`` values for which some ``v1`` is the HMAC of ``"{t}.{payload}"``."""
    fields = plain_fields(vector["header"])
    body = vector["payload"].encode("utf-8")
    found = []
    for key, value in fields:
        if key == "t" and value.isascii() and value.isdigit():
            expected = plain_hmac(secret, value.encode() + b"." + body)
            if any(k == "v1" and v.lower() == expected for k, v in fields):
                found.append(int(value))
    return found


def plain_legacy_matches(vector: dict[str, Any], secret: str) -> bool:
    expected = plain_hmac(secret, vector["payload"].encode("utf-8"))
    return any(k == "sha256" and v.lower() == expected for k, v in plain_fields(vector["header"]))


def signed_at(vector: dict[str, Any]) -> int:
    (t,) = [int(v) for k, v in plain_fields(vector["header"]) if k == "t"]
    return t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Set the verifier's clock (``construct_event`` and ``verify_signature`` read it)."""

    def set_now(now: float) -> None:
        monkeypatch.setattr(cstar.webhook, "time", SimpleNamespace(time=lambda: float(now)))

    return set_now


def test_the_file_is_what_the_generator_produces() -> None:
    text: str = load_generator().render()
    assert VECTORS_FILE.read_text(encoding="utf-8") == text, (
        "spec/webhook-signature-vectors.json is stale: run python spec/generate_vectors.py"
    )
    check = subprocess.run(
        [sys.executable, "-I", str(SPEC / "generate_vectors.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_vectors_are_well_formed_and_cover_the_cases() -> None:
    assert len(BY_NAME) == len(VECTORS), "vector names must be unique"
    assert set(BY_NAME) >= REQUIRED, REQUIRED - set(BY_NAME)
    for vector in VECTORS:
        assert set(vector) >= {"name", "description", "payload", "now", "tolerance", "header"}
        assert ("secret" in vector) != ("secrets" in vector), vector["name"]
        assert vector["expected"] in CATEGORIES, vector["name"]
        assert isinstance(vector["canonical"], bool)
        if vector["canonical"]:
            assert vector["expected"] == "valid", vector["name"]
    assert len(secrets_of(BY_NAME["valid_rotation_two_v1"])) == 2
    assert not BY_NAME["valid_seed_001_envelope_utf8"]["payload"].isascii()
    # The timestamp boundary is exactly the tolerance, on both sides of it.
    for name, offset in [
        ("timestamp_old_just_inside", -300),
        ("timestamp_too_old", -301),
        ("timestamp_future_just_inside", 300),
        ("timestamp_too_far_in_future", 301),
    ]:
        vector = BY_NAME[name]
        assert vector["tolerance"] == 300
        assert signed_at(vector) - vector["now"] == offset, name


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_plain_hmac_agrees_with_the_vector(vector: dict[str, Any]) -> None:
    """Independent of cstar: valid vectors carry a real HMAC within the tolerance, and the
    signature and timestamp failures fail for the reason they claim."""
    now, tolerance = vector["now"], vector["tolerance"]
    for secret in secrets_of(vector):
        matching = plain_matching_timestamps(vector, secret)
        legacy = plain_legacy_matches(vector, secret)
        if vector["expected"] == "valid":
            if vector["header"].startswith("sha256="):
                assert legacy
            else:
                assert [t for t in matching if abs(now - t) <= tolerance], matching
        elif vector["expected"] == "bad_signature":
            assert not matching
            assert not legacy
        elif vector["expected"] == "timestamp_outside_tolerance":
            assert matching
            assert all(abs(now - t) > tolerance for t in matching)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_the_verifier_gives_the_expected_result(
    vector: dict[str, Any], clock: Callable[[float], None]
) -> None:
    clock(vector["now"])
    header, tolerance = vector["header"], vector["tolerance"]
    for secret in secrets_of(vector):
        for payload in payloads_of(vector):
            if vector["expected"] == "valid":
                event = construct_event(payload, header, secret, tolerance=tolerance)
                assert event == json.loads(vector["payload"])
                assert event.id == event["id"]
                assert verify_signature(payload, header, secret, tolerance=tolerance) is True
                verify_header(payload, header, secret, tolerance=tolerance, now=vector["now"])
                continue
            with pytest.raises(WebhookSignatureVerificationError) as raised:
                construct_event(payload, header, secret, tolerance=tolerance)
            assert category(raised.value) == vector["expected"]
            assert raised.value.sig_header == header
            assert verify_signature(payload, header, secret, tolerance=tolerance) is False
            with pytest.raises(WebhookSignatureVerificationError):
                verify_header(payload, header, secret, tolerance=tolerance, now=vector["now"])


def v1_vectors() -> Iterator[dict[str, Any]]:
    for vector in VECTORS:
        if vector["expected"] == "valid" and not vector["header"].startswith("sha256="):
            yield vector


@pytest.mark.parametrize("vector", list(v1_vectors()), ids=[v["name"] for v in v1_vectors()])
def test_the_dispatchers_signer_produces_the_canonical_headers(vector: dict[str, Any]) -> None:
    """``delivery_headers`` (what the dispatcher sends) and ``generate_header`` give exactly the
    header of every canonical vector, and differ from the deliberately odd-looking ones."""
    t = signed_at(vector)
    headers = delivery_headers(
        body=vector["payload"].encode("utf-8"),
        secrets=secrets_of(vector),
        event_id="evt_ticket_closed_1774583010044_k3j9x2ab",
        event_type="ticket.closed",
        webhook_id="whk_vectors",
        attempt=1,
        request_id=None,
        now=datetime.fromtimestamp(t, UTC),
    )
    generated = {
        generate_header(payload, secrets_of(vector), timestamp=t) for payload in payloads_of(vector)
    }
    if vector["canonical"]:
        assert headers["X-Signature"] == vector["header"]
        assert generated == {vector["header"]}
    else:
        assert headers["X-Signature"] != vector["header"]
        assert generated == {headers["X-Signature"]}


def test_the_canonical_vectors_include_plain_utf8_rotation_and_both_edges() -> None:
    canonical = {v["name"] for v in VECTORS if v["canonical"]}
    assert canonical >= {
        "valid_plain",
        "valid_seed_001_envelope_utf8",
        "valid_rotation_two_v1",
        "timestamp_old_just_inside",
        "timestamp_future_just_inside",
    }


def test_an_over_long_timestamp_is_a_verification_error_not_a_crash() -> None:
    """``int()`` refuses strings over 4300 digits and floats overflow past 308: neither may
    escape the verifier as ValueError or OverflowError."""
    body = BY_NAME["valid_plain"]["payload"]
    for digits in (19, 309, 5000):
        t = "1" + "0" * (digits - 1)
        good = plain_hmac(BY_NAME["valid_plain"]["secret"], f"{t}.{body}".encode())
        with pytest.raises(WebhookSignatureVerificationError, match="bad timestamp"):
            verify_header(body, f"t={t},v1={good}", BY_NAME["valid_plain"]["secret"])


def mutate(rng: random.Random, header: str) -> str:
    alphabet = ",=tv01sha256 .-\x00\tabcdefABCDEF9é🔒"
    for _ in range(rng.randint(0, 4)):
        parts = header.split(",")
        position = rng.randint(0, len(header))
        operation = rng.randrange(9)
        if operation == 0:
            header = header[:position] + rng.choice(alphabet) + header[position:]
        elif operation == 1:
            header = header[:position] + header[position + 1 :]
        elif operation == 2:
            header = header[:position] + rng.choice(alphabet) + header[position + 1 :]
        elif operation == 3:
            header = ",".join([*parts, rng.choice(parts)])
        elif operation == 4:
            del parts[rng.randrange(len(parts))]
            header = ",".join(parts)
        elif operation == 5:
            rng.shuffle(parts)
            header = ",".join(parts)
        elif operation == 6:
            header = header.swapcase()
        elif operation == 7:
            digits = rng.choice([1, 17, 18, 19, 400, 5000])
            header = header[:position] + "9" * digits + header[position:]
        else:
            header = header[: rng.randint(0, len(header))]
    return header


def test_fuzzed_headers_only_ever_verify_or_raise_the_verification_error(
    clock: Callable[[float], None],
) -> None:
    rng = random.Random(20240604)
    outcomes = {"valid": 0, "rejected": 0}
    for _ in range(2000):
        vector = rng.choice(VECTORS)
        clock(vector["now"])
        secret = rng.choice(secrets_of(vector))
        payload = rng.choice(payloads_of(vector))
        if rng.random() < 0.05:
            header = "".join(rng.choice(",=tv1 é\x00") for _ in range(rng.randint(0, 30)))
        else:
            header = mutate(rng, vector["header"])
        try:
            construct_event(payload, header, secret, tolerance=vector["tolerance"])
        except WebhookSignatureVerificationError:
            outcomes["rejected"] += 1
            assert verify_signature(payload, header, secret, tolerance=vector["tolerance"]) is False
        else:
            outcomes["valid"] += 1
            assert verify_signature(payload, header, secret, tolerance=vector["tolerance"]) is True
    # Both outcomes occur, so the loop exercised the parser rather than one early exit.
    assert outcomes["valid"] > 50, outcomes
    assert outcomes["rejected"] > 500, outcomes
