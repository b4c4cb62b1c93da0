"""``cstar.webhook`` works where none of the server's dependencies can be imported: a receiver
installs the package without the ``server`` extra and verifies a real delivery's header."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

from cstar.server.dispatch.request import delivery_headers

BLOCKED = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "aiohttp",
    "pyreqwest",
    "uvicorn",
    "orjson",
    "cryptography",
    "pydantic",
    "httpx",
    "cstar.server",
)

CHILD = textwrap.dedent(
    """
    import json, sys

    BLOCKED = tuple(sys.argv[1].split(","))

    def blocked(name):
        return any(name == b or name.startswith(b + ".") for b in BLOCKED)

    early = [m for m in sys.modules if blocked(m)]
    assert not early, f"imported before the blocker was installed: {early}"

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if blocked(name):
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocker())
    for name in BLOCKED:  # the blocker works, so the import below cannot cheat
        try:
            __import__(name)
        except ImportError:
            pass
        else:
            raise AssertionError(f"{name} was importable")

    from cstar.webhook import (
        WebhookSignatureVerificationError, construct_event, verify_signature,
    )

    delivery = json.load(sys.stdin)
    body = delivery["body"].encode("utf-8")
    event = construct_event(body, delivery["header"], delivery["secret"])
    assert event.id == delivery["event_id"], event
    assert event.data.ticket.title == delivery["title"], event
    assert verify_signature(body, delivery["header"], delivery["secret"])
    try:
        construct_event(body, delivery["header"], "whsec_wrong")
    except WebhookSignatureVerificationError:
        pass
    else:
        raise AssertionError("a wrong secret verified")
    loaded = sorted(m for m in sys.modules if blocked(m))
    assert not loaded, loaded
    print("OK")
    """
)


def test_the_verifier_checks_a_real_delivery_without_any_server_dependency() -> None:
    secret = "whsec_StandaloneStandaloneStandalone000000"
    event_id = "evt_ticket_created_1774583010044_st4nd4l0"
    title = "Connexion impossible — 登录失败 🔒"
    body = json.dumps(
        {
            "id": event_id,
            "type": "ticket.created",
            "created_at": "2026-03-06T14:30:00Z",
            "team_id": "550e8400-e29b-41d4-a716-446655440000",
            "data": {"ticket": {"id": "tkt_1", "title": title}},
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    headers = delivery_headers(
        body=body,
        secrets=[secret],
        event_id=event_id,
        event_type="ticket.created",
        webhook_id="whk_standalone",
        attempt=1,
        request_id="req_standalone",
        now=datetime.now(UTC),
    )
    delivery = {
        "body": body.decode("utf-8"),
        "header": headers["X-Signature"],
        "secret": secret,
        "event_id": event_id,
        "title": title,
    }
    result = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, ",".join(BLOCKED)],
        input=json.dumps(delivery),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK", result.stdout + result.stderr
