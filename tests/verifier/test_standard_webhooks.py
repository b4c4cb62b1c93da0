"""The Standard Webhooks scheme: the vectors of ``spec/standard-webhooks-vectors.json`` (with the
specification's published example), checked by ``cstar.webhook`` and by the specification's own
library (``standardwebhooks``) and Svix's (``svix``); the delivery headers signed in that scheme,
checked by both libraries, rotations included; and the verifier's refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks.webhooks
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks.exceptions import WebhookVerificationError
from svix.webhooks import Webhook as SvixWebhook

from cstar.delivery_headers import STANDARD_SCHEME, delivery_headers
from cstar.webhook import (
    WebhookSignatureVerificationError,
    compute_standard_signature,
    construct_event,
    generate_header,
    generate_standard_headers,
    standard_key,
    verify_standard_headers,
)

SPEC = Path(__file__).resolve().parents[2] / "spec" / "standard-webhooks-vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(SPEC.read_text(encoding="utf-8"))["vectors"]
#: The published example, as the specification's README gives it.
PUBLISHED: dict[str, Any] = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": 1614265330,
    "payload": '{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}
#: What the verifier's messages mean, in the vectors' words.
CATEGORIES = {
    "Missing webhook-id": "malformed_header",
    "Malformed webhook-timestamp": "malformed_header",
    "Signature header too long": "malformed_header",
    "No signature matches": "bad_signature",
    "Timestamp outside the tolerance zone": "timestamp_outside_tolerance",
}
#: Two Standard Webhooks secrets (base64 of 32 and 33 bytes), and one of the form every webhook
#: has had so far (40 base62 characters: also valid base64, of 30 bytes).
NEW = "whsec_" + "q3Jx0mQ8Zb1Tn4Yw7Lk2Vd5Rs9Hc6Gf0Ua3Ep8Io1WA="
OTHER = "whsec_" + "B7nR2kPq9Xs4Lw1Zd6Tf3Hy8Mc5Vb0Ga2Ej7Ku4Np9QA="
BASE62 = "whsec_AbCdEf1234567890AbCdEf1234567890AbCdEf12"


def _signed(body: bytes, secrets: list[str], *, attempt: int, now: datetime) -> dict[str, str]:
    """The headers the dispatcher sends for one attempt of ``evt_1`` in the standard scheme."""
    return delivery_headers(
        body=body,
        secrets=secrets,
        event_id="evt_1",
        event_type="ticket.created",
        webhook_id="whk_1",
        attempt=attempt,
        request_id=None,
        now=now,
        scheme=STANDARD_SCHEME,
    )


def _vector_ids() -> list[str]:
    return [v["name"] for v in VECTORS]


def _secrets(vector: dict[str, Any]) -> list[str]:
    return [vector["secret"]] if "secret" in vector else list(vector["secrets"])


def _category(vector: dict[str, Any], secret: str) -> str:
    try:
        verify_standard_headers(
            vector["payload"],
            vector["headers"],
            secret,
            tolerance=vector["tolerance"],
            now=vector["now"],
        )
    except WebhookSignatureVerificationError as exc:
        for prefix, category in CATEGORIES.items():
            if str(exc).startswith(prefix):
                return category
        raise AssertionError(f"unexpected message: {exc}") from None
    return "valid"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The libraries' clock (``datetime.now`` in ``standardwebhooks.webhooks``), set by tests."""
    now: list[float] = [0.0]

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Frozen:
            return cls.fromtimestamp(now[0], tz=tz)

    monkeypatch.setattr(standardwebhooks.webhooks, "datetime", Frozen)
    return now


def test_the_published_example_is_a_vector_and_signs_the_same() -> None:
    vector = next(v for v in VECTORS if v["name"] == "published-example")
    assert vector["secret"] == PUBLISHED["secret"]
    assert vector["payload"] == PUBLISHED["payload"]
    assert vector["headers"] == {
        "webhook-id": PUBLISHED["id"],
        "webhook-timestamp": str(PUBLISHED["timestamp"]),
        "webhook-signature": PUBLISHED["signature"],
    }
    signature = compute_standard_signature(
        PUBLISHED["payload"],
        PUBLISHED["secret"],
        msg_id=PUBLISHED["id"],
        timestamp=PUBLISHED["timestamp"],
    )
    assert "v1," + signature == PUBLISHED["signature"]


@pytest.mark.parametrize("vector", VECTORS, ids=_vector_ids())
def test_the_verifier_agrees_with_every_vector(vector: dict[str, Any]) -> None:
    for secret in _secrets(vector):
        assert _category(vector, secret) == vector["expected"], secret


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS if v["canonical"]], ids=lambda v: str(v["name"])
)
def test_canonical_vectors_are_what_the_signer_sends(vector: dict[str, Any]) -> None:
    headers = vector["headers"]
    signed = generate_standard_headers(
        vector["payload"],
        _secrets(vector),
        msg_id=headers["webhook-id"],
        timestamp=int(headers["webhook-timestamp"]),
    )
    assert signed == headers


@pytest.mark.parametrize(
    "vector",
    # The libraries read "1614265330.5" as a time (a float); the specification and cStar's
    # verifier take whole seconds only.
    [v for v in VECTORS if v["name"] != "bad-timestamp"],
    ids=lambda v: str(v["name"]),
)
@pytest.mark.parametrize(
    "library", [StandardWebhook, SvixWebhook], ids=["standardwebhooks", "svix"]
)
def test_both_libraries_agree_with_every_vector(
    vector: dict[str, Any], library: type[StandardWebhook], clock: list[float]
) -> None:
    clock[0] = vector["now"]
    for secret in _secrets(vector):
        try:
            library(secret).verify(vector["payload"], dict(vector["headers"]))
        except WebhookVerificationError:
            verdict = "invalid"
        else:
            verdict = "valid"
        assert verdict == ("valid" if vector["expected"] == "valid" else "invalid"), secret


@pytest.mark.parametrize(
    "library", [StandardWebhook, SvixWebhook], ids=["standardwebhooks", "svix"]
)
@pytest.mark.parametrize("secret", [NEW, BASE62], ids=["32-bytes", "base62-40"])
def test_delivery_headers_in_the_standard_scheme_verify_with_both_libraries(
    library: type[StandardWebhook], secret: str, clock: list[float]
) -> None:
    body = b'{"id":"evt_1","type":"ticket.created","data":{"subject":"Caf\xc3\xa9"}}'
    moment = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
    clock[0] = moment.timestamp()
    first = _signed(body, [secret], attempt=1, now=moment)
    library(secret).verify(body, first)
    assert first["webhook-id"] == "evt_1"
    assert first["webhook-timestamp"] == str(int(moment.timestamp()))
    assert "X-Signature" not in first
    for name in ("X-Event-Type", "X-Event-ID", "X-Webhook-ID", "X-Timestamp", "X-Delivery-Attempt"):
        assert name in first
    # A retry: the same webhook-id, a fresh timestamp and signature.
    later = datetime(2026, 12, 6, 12, 1, 0, tzinfo=UTC)
    clock[0] = later.timestamp()
    retry = _signed(body, [secret], attempt=2, now=later)
    library(secret).verify(body, retry)
    assert retry["webhook-id"] == first["webhook-id"]
    assert retry["webhook-timestamp"] != first["webhook-timestamp"]
    assert retry["webhook-signature"] != first["webhook-signature"]
    # Tampered, or checked with another secret: refused.
    with pytest.raises(WebhookVerificationError):
        library(secret).verify(body + b" ", retry)
    with pytest.raises(WebhookVerificationError):
        library(OTHER).verify(body, retry)


@pytest.mark.parametrize(
    "library", [StandardWebhook, SvixWebhook], ids=["standardwebhooks", "svix"]
)
def test_a_rotation_signs_once_per_secret_and_each_verifies(
    library: type[StandardWebhook], clock: list[float]
) -> None:
    body = b'{"id":"evt_1"}'
    moment = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
    clock[0] = moment.timestamp()
    headers = _signed(body, [NEW, OTHER], attempt=1, now=moment)
    entries = headers["webhook-signature"].split(" ")
    assert len(entries) == 2
    assert all(e.startswith("v1,") for e in entries)
    library(NEW).verify(body, headers)
    library(OTHER).verify(body, headers)
    verify_standard_headers(body, headers, NEW, now=moment.timestamp())
    verify_standard_headers(body, headers, OTHER, now=moment.timestamp())
    with pytest.raises(WebhookVerificationError):
        library(BASE62).verify(body, headers)


def test_construct_event_picks_the_scheme_from_the_headers() -> None:
    body = '{"id":"evt_3","type":"ticket.created","data":{}}'
    standard = {
        k.title(): v for k, v in generate_standard_headers(body, NEW, msg_id="evt_3").items()
    }
    assert construct_event(body, standard, NEW).id == "evt_3"  # names in any case
    cstar = {"x-signature": generate_header(body, NEW), "Content-Type": "application/json"}
    assert construct_event(body, cstar, NEW).type == "ticket.created"
    with pytest.raises(WebhookSignatureVerificationError, match="No signature header"):
        construct_event(body, {"Content-Type": "application/json"}, NEW)
    # The standard scheme's signature checked with a secret that is not base64: refused cleanly.
    with pytest.raises(WebhookSignatureVerificationError, match="base64"):
        construct_event(body, standard, "whsec_not*base64")
    with pytest.raises(WebhookSignatureVerificationError, match="No signature matches"):
        construct_event(body, standard, OTHER)


def test_standard_keys_are_24_to_64_bytes_of_base64() -> None:
    assert len(standard_key(NEW)) == 32
    assert len(standard_key(BASE62)) == 30
    assert standard_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == standard_key(PUBLISHED["secret"])
    for bad in (
        "whsec_" + "A" * 28,
        "whsec_" + "A" * 88,
        "whsec_ab$d",
        "whsec_caf\u00e9",
        "whsec_abc",
    ):
        with pytest.raises(ValueError, match="Standard Webhooks"):
            standard_key(bad)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"webhook-id": ""}, "Missing webhook-id"),
        ({"webhook-signature": "v1," + "A" * 9000}, "Signature header too long"),
        ({"webhook-id": "m" * 300}, "Signature header too long"),
        ({"webhook-timestamp": "-1614265330"}, "Malformed webhook-timestamp"),
        ({"webhook-timestamp": "1" * 40}, "Malformed webhook-timestamp"),
        ({"webhook-timestamp": "\u0661\u0662"}, "Malformed webhook-timestamp"),
        ({"webhook-signature": "v1"}, "No signature matches"),
        ({"webhook-signature": "v1,caf\u00e9"}, "No signature matches"),
        ({"webhook-signature": "v2,abc v1,"}, "No signature matches"),
    ],
)
def test_hostile_headers_are_refused_with_a_reason(change: dict[str, str], message: str) -> None:
    headers = generate_standard_headers(PUBLISHED["payload"], PUBLISHED["secret"], msg_id="m")
    headers.update(change)
    with pytest.raises(WebhookSignatureVerificationError, match=message):
        verify_standard_headers(PUBLISHED["payload"], headers, PUBLISHED["secret"])


def test_a_tolerance_must_be_positive() -> None:
    headers = generate_standard_headers("{}", NEW, msg_id="m")
    with pytest.raises(ValueError, match="tolerance"):
        verify_standard_headers("{}", headers, NEW, tolerance=0)
