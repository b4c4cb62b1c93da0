"""What a new user does with only ``pip install cstar`` (no server extra): run a receiver that
verifies deliveries with ``cstar.webhook``, and drive every endpoint with the SDK, realtime
included. Run by ``tests/e2e/test_new_user.py`` in a fresh venv; prints a JSON summary.

Credentials come from CSTAR_SECRET_KEY, CSTAR_TEAM_ID and CSTAR_BASE_URL, as documented.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from cstar import CStarClient
from cstar.webhook import WebhookSignatureVerificationError, construct_event

secrets: list[str] = []
verified: list[str] = []
rejected: list[str] = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            event = construct_event(body, self.headers.get("X-Signature", ""), secrets[-1])
        except WebhookSignatureVerificationError as exc:
            rejected.append(str(exc))
            self.send_response(400)
        else:
            assert event.id == self.headers["X-Event-ID"]
            verified.append(event.id)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def wait(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def main() -> None:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/webhooks/cstar"
    streamed: list[str] = []
    summary: dict[str, Any] = {}
    with CStarClient() as cstar:
        summary["catalog"] = len(cstar.events.catalog())
        webhook = cstar.webhooks.create(url=url, events=["ticket.*"], name="New user")
        assert webhook.secret is not None
        assert webhook.signing_secret == webhook.secret
        secrets.append(webhook.secret)
        assert cstar.webhooks.get(webhook.id).secret is None
        assert webhook.id in [w.id for w in cstar.webhooks.list(active=True)]
        assert cstar.webhooks.update(webhook.id, name="Renamed").name == "Renamed"
        summary["request_id"] = cstar.last_meta.request_id if cstar.last_meta else None

        sub = cstar.realtime.on("ticket.*", lambda event: streamed.append(event.id))
        assert sub.wait_ready(10)
        test = cstar.webhooks.test(webhook.id, "ticket.created")
        assert test.success, test
        published = cstar.events.publish("ticket.created", {"ticket": {"id": "t-1"}})
        triggered = cstar.webhooks.trigger_test("ticket.closed")
        assert triggered.delivered_to == 1
        wait(lambda: {published.id, triggered.event_id} <= set(verified), "deliveries")
        wait(lambda: {published.id, triggered.event_id} <= set(streamed), "the stream")

        deliveries = list(cstar.webhooks.deliveries(webhook.id))
        detail = cstar.deliveries.get(deliveries[0].id)
        assert detail.attempts, detail
        before = len(verified)
        cstar.deliveries.resend(deliveries[0].id)
        wait(lambda: len(verified) > before, "the resent delivery")

        rotated = cstar.webhooks.rotate_secret(webhook.id, grace_period_seconds=60)
        assert rotated.secret is not None
        secrets.append(rotated.secret)
        again = cstar.events.publish("ticket.updated", {"ticket": {"id": "t-1"}})
        wait(lambda: again.id in verified, "a delivery signed with the new secret")
        since = datetime.now(UTC) - timedelta(hours=1)
        summary["recovered"] = cstar.webhooks.recover(webhook.id, since=since).raw

        key = cstar.keys.create(name="ci")
        assert key.key is not None
        assert cstar.keys.revoke(key.id).revoked_at is not None
        summary["keys"] = len(list(cstar.keys.list()))
        sub()
        assert cstar.webhooks.delete(webhook.id).deleted
    summary.update(
        verified=len(verified),
        rejected=len(rejected),
        streamed=len(set(streamed)),
        streamed_twice=len(streamed) - len(set(streamed)),
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
