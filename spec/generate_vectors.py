"""Generate ``webhook-signature-vectors.json``: the shared test vectors of the X-Signature scheme.

Standard library only, and independent of the ``cstar`` package, so the vectors are not
produced by the code they test. Deterministic: fixed secrets, bodies and times.

    python spec/generate_vectors.py          # rewrite the file
    python spec/generate_vectors.py --check  # exit 1 when the file differs from what it would be
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parent / "webhook-signature-vectors.json"

# Made-up secrets in the real format (``whsec_`` and 40 base62 characters). Not used anywhere.
SECRET = "whsec_5Tq9vRk2LmW8xZb3NcY7pHd4GsJf6Ae1Ku0Io2Qw"  # noqa: S105
OLD_SECRET = "whsec_Old7Rt3Yp9Ls2Kd8Fh4Jg6Zx1Cv5Bn0Mq3Wa7Es"  # noqa: S105
OTHER_SECRET = "whsec_Xx0Yy1Zz2Aa3Bb4Cc5Dd6Ee7Ff8Gg9Hh0Ii1Jj2Kk"  # noqa: S105

#: The verifier's clock in every vector: the second of seed 001's sample event id.
NOW = 1774583010
TOLERANCE = 300


def _compact(value: Any) -> str:
    """JSON as the dispatcher sends it: compact, keys in order, non-ASCII as raw UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


PING = _compact(
    {
        "id": "evt_ticket_closed_1774583010044_k3j9x2ab",
        "type": "ticket.closed",
        "created_at": "2026-03-27T03:43:30Z",
        "team_id": "550e8400-e29b-41d4-a716-446655440000",
        "data": {"ticket": {"id": "tkt_1", "status": "closed"}},
    }
)

# Seed 001's sample envelope, with non-ASCII text (2-, 3- and 4-byte UTF-8 sequences).
SEED_001 = _compact(
    {
        "id": "evt_ticket_created_1774583010044_abc12345",
        "type": "ticket.created",
        "created_at": "2026-03-06T14:30:00Z",
        "team_id": "550e8400-e29b-41d4-a716-446655440000",
        "data": {
            "ticket": {
                "id": "25990cb8-cbbf-4671-a973-672cde1cf42d",
                "title": "Impossible de me connecter — 无法登录 🔒",
                "status": "new",
                "priority": "high",
                "customer_id": "cd17b730-387d-424e-a50b-eb4a44e543af",
                "customer_name": "Zoë Ørsted-Núñez",
                "created_at": "2026-03-06T14:30:00Z",
                "dashboard_url": (
                    "https://www.cstar.help/team/my-team/tickets"
                    "?selected=25990cb8-cbbf-4671-a973-672cde1cf42d"
                ),
            },
            "customer": {
                "id": "cd17b730-387d-424e-a50b-eb4a44e543af",
                "name": "Zoë Ørsted-Núñez",
                "email": "zoe@example.com",
            },
        },
    }
)


def v1(payload: str, secret: str, timestamp: int | str) -> str:
    """Hex HMAC-SHA256, keyed with the whole secret (UTF-8), of ``"{t}.{payload}"`` (UTF-8)."""
    message = f"{timestamp}.".encode() + payload.encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def legacy(payload: str, secret: str) -> str:
    """Hex HMAC-SHA256 of the body alone (the legacy ``sha256=`` scheme)."""
    return hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).hexdigest()


def header(payload: str, secrets: list[str], timestamp: int) -> str:
    """The header the dispatcher sends: ``t=<unix>,v1=<hex>[,v1=<hex>...]``."""
    return f"t={timestamp}," + ",".join(f"v1={v1(payload, s, timestamp)}" for s in secrets)


def vector(
    name: str,
    description: str,
    *,
    header: str,
    expected: str,
    payload: str = PING,
    secret: str | list[str] = SECRET,
    now: int = NOW,
    tolerance: int = TOLERANCE,
    canonical: bool = False,
) -> dict[str, Any]:
    keys: dict[str, Any] = (
        {"secret": secret} if isinstance(secret, str) else {"secrets": list(secret)}
    )
    return {
        "name": name,
        "description": description,
        "payload": payload,
        **keys,
        "now": now,
        "tolerance": tolerance,
        "header": header,
        "expected": expected,
        "canonical": canonical,
    }


def build_vectors() -> list[dict[str, Any]]:
    good = v1(PING, SECRET, NOW)
    tampered = PING.replace('"tkt_1"', '"tkt_2"')
    assert len(tampered.encode()) == len(PING.encode())
    assert tampered != PING
    reserialized = json.dumps(json.loads(SEED_001), indent=2)  # spaces and \u escapes
    non_hex = "z" + good[1:]
    too_long_t = "1" + "0" * 399
    return [
        vector(
            "valid_plain",
            "A plain delivery, signed now with the webhook's one secret.",
            header=header(PING, [SECRET], NOW),
            expected="valid",
            canonical=True,
        ),
        vector(
            "valid_seed_001_envelope_utf8",
            "Seed 001's sample envelope with non-ASCII text, sent as raw UTF-8 (2-, 3- and "
            "4-byte sequences). The HMAC covers the UTF-8 bytes; verifying the bytes or the "
            "decoded string gives the same result.",
            payload=SEED_001,
            header=header(SEED_001, [SECRET], NOW),
            expected="valid",
            canonical=True,
        ),
        vector(
            "valid_rotation_two_v1",
            "During a rotation's grace period the header carries one v1 per valid secret, the "
            "new secret's first and the previous secret's last. Verifying with either secret "
            "passes: check every v1, not only the first or the last.",
            secret=[SECRET, OLD_SECRET],
            header=header(PING, [SECRET, OLD_SECRET], NOW),
            expected="valid",
            canonical=True,
        ),
        vector(
            "rotation_unrelated_secret",
            "The rotation header of valid_rotation_two_v1, verified with a secret that signed "
            "neither v1.",
            secret=OTHER_SECRET,
            header=header(PING, [SECRET, OLD_SECRET], NOW),
            expected="bad_signature",
        ),
        vector(
            "wrong_secret",
            "Signed with another secret than the receiver's.",
            header=header(PING, [OTHER_SECRET], NOW),
            expected="bad_signature",
        ),
        vector(
            "tampered_body_one_byte",
            "The body differs from the signed one in one byte (tkt_1 became tkt_2).",
            payload=tampered,
            header=header(PING, [SECRET], NOW),
            expected="bad_signature",
        ),
        vector(
            "reserialized_body",
            "The signed body of valid_seed_001_envelope_utf8, parsed and serialized again "
            "(indentation, \\u escapes): same JSON value, other bytes. Verify the raw bytes "
            "you received, before parsing.",
            payload=reserialized,
            header=header(SEED_001, [SECRET], NOW),
            expected="bad_signature",
        ),
        vector(
            "timestamp_too_old",
            "Correctly signed, but t is tolerance + 1 seconds before now: a replay.",
            header=header(PING, [SECRET], NOW - TOLERANCE - 1),
            expected="timestamp_outside_tolerance",
        ),
        vector(
            "timestamp_old_just_inside",
            "t is exactly tolerance seconds before now: still inside (|now - t| <= tolerance).",
            header=header(PING, [SECRET], NOW - TOLERANCE),
            expected="valid",
            canonical=True,
        ),
        vector(
            "timestamp_too_far_in_future",
            "Correctly signed, but t is tolerance + 1 seconds after now. The tolerance applies "
            "in both directions (Stripe's own verifier checks only the past).",
            header=header(PING, [SECRET], NOW + TOLERANCE + 1),
            expected="timestamp_outside_tolerance",
        ),
        vector(
            "timestamp_future_just_inside",
            "t is exactly tolerance seconds after now (a sender's clock ahead): still inside.",
            header=header(PING, [SECRET], NOW + TOLERANCE),
            expected="valid",
            canonical=True,
        ),
        vector(
            "custom_tolerance",
            "t is 500 seconds old; the receiver chose a tolerance of 600 seconds.",
            header=header(PING, [SECRET], NOW - 500),
            tolerance=600,
            expected="valid",
            canonical=True,
        ),
        vector(
            "legacy_sha256",
            "The legacy scheme: sha256=<hex HMAC of the body alone>, no timestamp, so no replay "
            "protection and now/tolerance do not apply. Accepted, never sent by the dispatcher.",
            header=f"sha256={legacy(PING, SECRET)}",
            expected="valid",
        ),
        vector(
            "legacy_sha256_wrong_secret",
            "The legacy scheme, signed with another secret.",
            header=f"sha256={legacy(PING, OTHER_SECRET)}",
            expected="bad_signature",
        ),
        vector(
            "spaces_around_parts",
            "Optional whitespace around the comma-separated parts and around '=' is ignored "
            "(as in HTTP list syntax). The dispatcher never sends it.",
            header=f" t={NOW} ,  v1 = {good} ",
            expected="valid",
        ),
        vector(
            "parts_in_any_order",
            "The parts may come in any order.",
            header=f"v1={good},t={NOW}",
            expected="valid",
        ),
        vector(
            "uppercase_hex",
            "v1 in uppercase hex. Accepted: hex digits are compared case-insensitively (the "
            "same 256-bit value), as seed 004's verifyWebhook does; Stripe's verifier compares "
            "exact lowercase strings and rejects it. Signers must send lowercase.",
            header=f"t={NOW},v1={good.upper()}",
            expected="valid",
        ),
        vector(
            "empty_header",
            "An empty X-Signature (or none at all).",
            header="",
            expected="malformed_header",
        ),
        vector(
            "not_key_value",
            "A part that is not key=value.",
            header=f"t={NOW},{good}",
            expected="malformed_header",
        ),
        vector(
            "missing_t",
            "A v1 without a timestamp: the signed message cannot be rebuilt.",
            header=f"v1={good}",
            expected="malformed_header",
        ),
        vector(
            "non_numeric_t",
            "t is not a non-negative integer of decimal digits.",
            header=f"t=17745830l0,v1={good}",
            expected="malformed_header",
        ),
        vector(
            "fractional_t",
            "t with a fraction: not an integer.",
            header=f"t={NOW}.5,v1={good}",
            expected="malformed_header",
        ),
        vector(
            "absurdly_long_t",
            "t has 400 digits (and v1 is a correct HMAC over it): more digits than any Unix "
            "time can need, rejected before any arithmetic on it.",
            header=f"t={too_long_t},v1={v1(PING, SECRET, too_long_t)}",
            expected="malformed_header",
        ),
        vector(
            "duplicated_t",
            "Two t parts (the second is the signed one). Rejected: which time was signed is "
            "ambiguous (Stripe's and seed 004's parsers silently keep the last).",
            header=f"t={NOW - 1000},t={NOW},v1={good}",
            expected="malformed_header",
        ),
        vector(
            "v1_non_hex",
            "A v1 of the right length with a character that is not hex: matches nothing.",
            header=f"t={NOW},v1={non_hex}",
            expected="bad_signature",
        ),
        vector(
            "v1_truncated",
            "A v1 that is a prefix of the right signature: matches nothing.",
            header=f"t={NOW},v1={good[:32]}",
            expected="bad_signature",
        ),
        vector(
            "v1_empty",
            "An empty v1 value: matches nothing.",
            header=f"t={NOW},v1=",
            expected="bad_signature",
        ),
        vector(
            "unknown_scheme_only",
            "Only an unknown scheme (v0, here carrying the right HMAC): unknown schemes are "
            "ignored, so no signature of a known scheme is left.",
            header=f"t={NOW},v0={good}",
            expected="no_signatures",
        ),
        vector(
            "unknown_scheme_beside_v1",
            "An unknown scheme beside a good v1 is ignored; the v1 passes.",
            header=f"t={NOW},v0=00ff,v1={good}",
            expected="valid",
        ),
        vector(
            "timestamp_only",
            "A timestamp and no signature at all.",
            header=f"t={NOW}",
            expected="no_signatures",
        ),
    ]


def render() -> str:
    document = {
        "about": (
            "Test vectors of the cStar webhook signature (X-Signature). See README.md in this "
            "directory for the algorithm and the fields; regenerate with generate_vectors.py."
        ),
        "vectors": build_vectors(),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.name} is out of date: run python spec/generate_vectors.py")
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {len(build_vectors())} vectors to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
