"""``/metrics`` on both databases: the token, every metric the issue lists, bounded labels, and
the gauges read from the database (shared by every process)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from cstar.server.dispatch.dispatcher import Dispatcher
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.observability import metrics as metrics_module
from cstar.server.services.teams import CreatedTeam
from tests.dispatch.support import auth, make_webhook, publish, wait_delivery
from tests.helpers import assert_error
from tests.receiver import Receiver, Reply

TOKEN = "metrics-token-0123456789"


@pytest.fixture
def delivery_settings(settings: Settings) -> Settings:
    return replace(
        settings,
        dev=True,
        retry_schedule=(30.0, 30.0),
        delivery_timeout=2.0,
        poll_interval=0.02,
        metrics_token=TOKEN,
    )


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(api: httpx.AsyncClient) -> Samples:
    response = await api.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# ---------------------------------------------------------------------------------------------
# the token
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "],
)
async def test_metrics_without_the_token_is_a_401(
    api: httpx.AsyncClient, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}

    response = await api.get("/metrics", headers=headers)

    error = assert_error(response, 401, "authentication_error", "authentication_required")
    assert "CSTAR_METRICS_TOKEN" in error["message"]
    assert TOKEN not in response.text


async def test_metrics_is_not_served_without_a_token_configured(
    settings: Settings, container: Container
) -> None:
    from cstar.server.api.app import create_app

    app = create_app(settings, container=container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        response = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404
    assert response.json()["success"] is False


async def test_metrics_accepts_only_get(api: httpx.AsyncClient) -> None:
    response = await api.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405


# ---------------------------------------------------------------------------------------------
# what is counted
# ---------------------------------------------------------------------------------------------


async def test_deliveries_publishes_durations_and_cycles_are_counted(
    node: Container,
    api: httpx.AsyncClient,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    ok = await make_webhook(node, acme, receiver.url("/ok"), name="ok")
    bad = await make_webhook(node, acme, receiver.url("/bad"), name="bad")
    receiver.plan("/bad", then=Reply(500))
    for n in range(3):
        await publish(api, acme, data={"n": n})
    await wait_delivery(node, acme, ok.webhook.id, status=DeliveryStatus.SUCCEEDED, count=3)
    await receiver.wait_for(6, timeout=15)
    await _until(lambda: dispatcher.recorded >= 6)

    samples = await scrape(api)

    assert value(samples, "cstar_published_events_total") == 3
    assert value(samples, "cstar_delivery_attempts_total", outcome="succeeded") == 3
    assert value(samples, "cstar_delivery_attempts_total", outcome="retrying") == 3
    assert value(samples, "cstar_delivery_attempts_total", outcome="failed") == 0
    assert value(samples, "cstar_delivery_attempt_duration_seconds_count") == 6
    assert value(samples, "cstar_delivery_attempt_duration_seconds_bucket", le="+Inf") == 6
    assert value(samples, "cstar_dispatcher_cycle_duration_seconds_count") > 0
    publishes = value(
        samples,
        "cstar_http_request_duration_seconds_count",
        route="/api/v1/teams/{teamId}/events",
        method="POST",
        status="202",
    )
    assert publishes == 3
    # The database's view: the failing endpoint's three deliveries wait for their retry.
    assert value(samples, "cstar_pending_deliveries") == 3
    assert value(samples, "cstar_oldest_pending_delivery_age_seconds") >= 0
    assert value(samples, "cstar_delivery_lag_seconds") == 0  # none overdue: retried in 30 s
    assert value(samples, "cstar_endpoints", state="failing") == 1
    assert value(samples, "cstar_endpoints", state="disabled") == 0
    assert bad.webhook.id not in (await api.get("/metrics", headers=_bearer())).text


async def test_a_replayed_publish_is_not_counted(api: httpx.AsyncClient, acme: CreatedTeam) -> None:
    for _ in range(3):
        await publish(api, acme, idempotencyKey="same-key")

    samples = await scrape(api)

    assert value(samples, "cstar_published_events_total") == 1


async def test_pending_age_and_lag_follow_the_oldest_delivery(
    node: Container, api: httpx.AsyncClient, acme: CreatedTeam, receiver: Receiver
) -> None:
    """No dispatcher runs: what is published stays pending and falls due."""
    await make_webhook(node, acme, receiver.url())
    await publish(api, acme)
    await asyncio.sleep(1.2)
    await publish(api, acme)

    samples = await scrape(api)

    assert value(samples, "cstar_pending_deliveries") == 2
    assert value(samples, "cstar_oldest_pending_delivery_age_seconds") >= 1.0
    assert value(samples, "cstar_delivery_lag_seconds") >= 1.0


async def test_the_database_is_read_at_most_once_per_interval(
    node: Container, api: httpx.AsyncClient, acme: CreatedTeam, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = 0
    gauges = node.metrics._database
    assert gauges is not None
    real = gauges._read

    async def counted(now: object) -> object:
        nonlocal reads
        reads += 1
        return await real(now)  # type: ignore[arg-type]

    monkeypatch.setattr(gauges, "_read", counted)
    await asyncio.gather(*(scrape(api) for _ in range(10)))
    await scrape(api)
    assert reads == 1

    monkeypatch.setattr(metrics_module, "SNAPSHOT_TTL", 0.0)
    await scrape(api)
    assert reads == 2


# ---------------------------------------------------------------------------------------------
# bounded labels
# ---------------------------------------------------------------------------------------------


async def test_request_labels_are_templates_whatever_the_path(
    api: httpx.AsyncClient, acme: CreatedTeam
) -> None:
    for n in range(50):
        await api.get(f"/random/{n}/path")
        await api.get(f"/api/v1/teams/team-{n}/webhooks")  # 401: answered before routing
        await api.request(f"M{n}", "/healthz")
    await api.get(f"/api/v1/teams/{acme.team.id}/webhooks/wh_{'x' * 20}", headers=auth(acme))

    samples = await scrape(api)

    series = {
        labels for name, labels in samples if name == "cstar_http_request_duration_seconds_count"
    }
    routes = {dict(labels)["route"] for labels in series}
    assert routes >= {"unmatched", "/api/v1/teams/{teamId}/webhooks", "/healthz"}
    assert "/api/v1/teams/{teamId}/webhooks/{webhookId}" in routes
    assert not any("team-" in route or "random" in route for route in routes)
    assert {dict(labels)["method"] for labels in series} <= {"GET", "OTHER"}
    assert len(series) < 10
    unauthenticated = value(
        samples,
        "cstar_http_request_duration_seconds_count",
        route="/api/v1/teams/{teamId}/webhooks",
        method="GET",
        status="401",
    )
    assert unauthenticated == 50


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


async def _until(condition: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


async def test_metrics_while_the_database_is_away_is_a_503(
    node: Container, api: httpx.AsyncClient
) -> None:
    await node.database.dispose()

    response = await api.get("/metrics", headers=_bearer())

    error = assert_error(response, 503, "api_error", "service_unavailable")
    assert "database" in error["message"]


async def test_the_metrics_port_app_answers_only_get_metrics(node: Container) -> None:
    from cstar.server.observability.server import MetricsApp

    app = MetricsApp(node.metrics)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://metrics"
    ) as http:
        assert (await http.get("/metrics")).status_code == 200
        assert (await http.head("/metrics")).status_code == 200
        assert (await http.get("/")).status_code == 404
        assert (await http.get("/metrics/x")).status_code == 404
        refused = await http.delete("/metrics")
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET"
        await node.database.dispose()
        away = await http.get("/metrics", headers={"x": "1"})
    # The snapshot of a moment ago is reused for 5 s: only a fresh read meets the outage.
    assert away.status_code == 200


async def test_the_metrics_port_app_says_503_when_the_database_is_away(
    node: Container,
) -> None:
    from cstar.server.observability.server import MetricsApp

    await node.database.dispose()
    app = MetricsApp(node.metrics)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://metrics"
    ) as http:
        response = await http.get("/metrics")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
