"""The charts of the dashboard's pages, from the hourly delivery statistics: a 24-hour sparkline
per webhook on the list, and on a webhook's page its last 24 hours and 7 days."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from markupsafe import Markup

from cstar.server.bootstrap import Container
from cstar.server.dashboard import charts
from cstar.server.domain.stats import by_webhook, hour_of

DAY = 24
WEEK = 7 * 24


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    svg: Markup


async def sparklines(
    container: Container, team_id: str, webhook_ids: Sequence[str]
) -> dict[str, Markup]:
    """Each webhook's success rate per hour over the last 24 hours (one query for the page)."""
    if not webhook_ids:
        return {}
    start = hour_of(container.clock()) - timedelta(hours=DAY - 1)
    stats = by_webhook(
        await container.delivery_store.hourly_stats(team_id, webhook_ids, since=start)
    )
    return {
        webhook_id: _safe(charts.sparkline(stats.get(webhook_id, []), start=start, hours=DAY))
        for webhook_id in webhook_ids
    }


async def webhook_charts(container: Container, team_id: str, webhook_id: str) -> list[Chart]:
    """Attempts by outcome and latency p50/p95, over 24 hours (hourly) and 7 days (daily bars,
    hourly latency), from one read of at most 168 rows."""
    now = hour_of(container.clock())
    week = now - timedelta(hours=WEEK - 1)
    day = now - timedelta(hours=DAY - 1)
    stats = await container.delivery_store.hourly_stats(team_id, [webhook_id], since=week)
    last_day = [row for row in stats if row.hour >= day]
    return [
        Chart(
            "Last 24 hours: attempts by outcome",
            _safe(charts.outcomes_chart(last_day, start=day, hours=DAY)),
        ),
        Chart(
            "Last 24 hours: latency p50 and p95",
            _safe(charts.latency_chart(last_day, start=day, hours=DAY)),
        ),
        Chart(
            "Last 7 days: attempts by outcome, per day",
            _safe(charts.outcomes_chart(stats, start=week, hours=WEEK)),
        ),
        Chart(
            "Last 7 days: latency p50 and p95",
            _safe(charts.latency_chart(stats, start=week, hours=WEEK)),
        ),
    ]


def _safe(svg: str) -> Markup:
    """The charts module escapes every text it writes into its SVG."""
    return Markup(svg)  # noqa: S704
