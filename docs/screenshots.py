"""Take the README's screenshots of the dashboard: a real ``cstar serve --dev`` with a demo team.

    .venv/bin/python docs/screenshots.py            # writes docs/screenshots/*.png

Three webhooks receive real deliveries from a local endpoint that answers slowly now and then
and fails one request in eight, so the logs, attempts and the current hour of the charts are
real. The earlier hours of the charts (the last 7 days) are demo history written straight into
``delivery_stats``: a fresh server has none. Needs Debian's chromium (``apt-get install
chromium``) and the test extra (Playwright).
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from aiohttp import web
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.server import start_server  # noqa: E402

OUT = ROOT / "screenshots"


def endpoint() -> str:
    """A receiver on its own thread: 200 mostly, 500 one request in eight, some slow."""
    counter = {"n": 0}

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        counter["n"] += 1
        await asyncio.sleep(random.choice((0.005, 0.01, 0.02, 0.04, 0.12)))
        return web.Response(status=500 if counter["n"] % 8 == 0 else 200, text="ok")

    ready = threading.Event()
    found: dict[str, int] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        found["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(10)
    return f"http://127.0.0.1:{found['port']}"


def history(database: Path, webhook_ids: list[str]) -> None:
    """Demo history for the charts: 7 days of hourly statistics before this hour."""
    import sqlite3

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rng = random.Random(7)
    rows = []
    for index, webhook_id in enumerate(webhook_ids):
        for back in range(1, 7 * 24):
            hour = now - timedelta(hours=back)
            volume = int(40 + 30 * math.sin(hour.hour / 24 * 2 * math.pi) + rng.randint(0, 15))
            failed_share = 0.02 + (0.25 if index == 2 and 30 < back < 40 else 0.0)
            failed = int(volume * failed_share)
            retrying = rng.randint(0, 2)
            succeeded = max(0, volume - failed - retrying)
            total = succeeded + failed + retrying
            spread = [0.10, 0.25, 0.30, 0.18, 0.08, 0.04, 0.03, 0.01, 0.005, 0.004, 0.001]
            latency = [int(total * share) for share in spread]
            latency[0] += total - sum(latency)
            stamp = hour.replace(tzinfo=None).isoformat(" ", "microseconds")
            rows.append((webhook_id, stamp, succeeded, retrying, failed, *latency))
    with sqlite3.connect(database) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(delivery_stats)")]
        marks = ", ".join("?" for _ in columns)
        conn.executemany(
            f"INSERT INTO delivery_stats ({', '.join(columns)}) VALUES ({marks})", rows
        )


def main() -> None:
    OUT.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cstar-screenshots-"))
    receiver = endpoint()
    server = start_server(
        work,
        env={"CSTAR_RATE_LIMIT": "100000/60s", "CSTAR_RETRY_SCHEDULE": "1s,2s,3s"},
        args=["--dev"],
    )
    try:
        boot = server.bootstrap
        assert boot is not None
        base = f"/api/v1/teams/{boot.team_id}"
        api = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {boot.secret_key}"}
        )
        hooks = []
        for name, events in (
            ("Helpdesk sync", "ticket.*"),
            ("CRM contacts", "customer.*,ticket.closed"),
            ("Data warehouse", "*"),
        ):
            made = api.post(
                f"{base}/webhooks",
                json={
                    "name": name,
                    "url": f"{receiver}/{name.lower().replace(' ', '-')}",
                    "events": events,
                },
            )
            made.raise_for_status()
            hooks.append(made.json()["data"]["id"])
        kinds = [
            "ticket.created",
            "ticket.updated",
            "ticket.closed",
            "customer.created",
            "customer.updated",
        ]
        for i in range(60):
            api.post(
                f"{base}/events",
                json={
                    "type": kinds[i % len(kinds)],
                    "data": {
                        "ticket": {"id": f"tkt_{i:04d}", "title": "Cannot log in"},
                        "customer": {"id": f"cus_{i:04d}", "name": "Ada Lovelace"},
                    },
                },
            ).raise_for_status()
        time.sleep(8)  # deliveries, retries and their attempts are recorded
        history(work / "cstar.db", hooks)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(
                base_url=server.base_url, viewport={"width": 1280, "height": 900}
            )

            def shot(name: str) -> None:
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)

            page.goto("/dashboard")
            shot("sign-in")
            page.get_by_label("Secret key").fill(boot.secret_key)
            page.get_by_role("button", name="Sign in").click()
            shot("webhooks")
            page.get_by_role("button", name="Create Webhook").click()
            shot("webhook-create")
            page.goto(f"/dashboard/settings/integrations/webhooks/{hooks[2]}")
            shot("webhook-settings")
            page.get_by_role("link", name="Logs", exact=True).click()
            shot("logs")
            page.locator("#deliveries a").first.click()
            shot("delivery")
            page.goto("/dashboard/settings/integrations/events")
            shot("catalog")
            page.goto("/dashboard/settings/api-keys")
            shot("api-keys")
            browser.close()
        api.close()
    finally:
        server.stop()
    print(f"screenshots in {OUT}: {', '.join(sorted(p.name for p in OUT.glob('*.png')))}")


if __name__ == "__main__":
    main()
