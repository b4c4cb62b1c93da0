"""Unit tests for ``cstar.server.dashboard.charts``: SVG that a strict Content-Security-Policy
allows, that says what it shows in words, and that draws the numbers it is given."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from cstar.server.dashboard.charts import (
    BOTTOM,
    HEIGHT,
    MAX_HOURS,
    SPARK_HEIGHT,
    SPARK_PAD,
    TOP,
    latency_chart,
    outcomes_chart,
    sparkline,
)
from cstar.server.domain.stats import LATENCY_BUCKETS, HourlyStats

NS = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 11, 30, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM

Chart = Callable[..., str]
CHARTS: list[tuple[str, Chart, int]] = [
    ("sparkline", sparkline, 24),
    ("outcomes, a day", outcomes_chart, 24),
    ("outcomes, a week", outcomes_chart, 168),
    ("latency, a day", latency_chart, 24),
    ("latency, a week", latency_chart, 168),
]


def hist(buckets: dict[int, int]) -> tuple[int, ...]:
    return tuple(buckets.get(i, 0) for i in range(LATENCY_BUCKETS))


def at(hours: int, s: int = 0, r: int = 0, f: int = 0, **buckets: int) -> HourlyStats:
    """A row ``hours`` after START; latency given as ``b<index>=count`` (else all in b0)."""
    latency = {int(k[1:]): v for k, v in buckets.items()} or {0: s + r + f}
    return HourlyStats("whk_1", START + hours * HOUR, s, r, f, hist(latency))


def busy_week() -> list[HourlyStats]:
    rnd = random.Random(7)
    rows = []
    for i in range(168):
        if i % 11 == 3:
            continue  # a few hours without attempts
        counts = [rnd.randint(0, 40), rnd.randint(0, 5), rnd.randint(0, 2)]
        latency = [0] * LATENCY_BUCKETS
        for _ in range(sum(counts)):
            latency[rnd.randint(0, LATENCY_BUCKETS - 1)] += 1
        rows.append(HourlyStats("whk_1", START + i * HOUR, *counts, tuple(latency)))
    return rows


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def label(svg: str) -> str:
    root = parse(svg)
    text = root.get("aria-label")
    assert text is not None
    title = root.find(f"{NS}title")
    assert title is not None
    assert title.text == text
    return text


def marks(svg: str, cls: str) -> list[ET.Element]:
    return [e for e in parse(svg).iter() if cls in (e.get("class") or "").split()]


def points(element: ET.Element) -> list[tuple[float, float]]:
    pairs = (p.split(",") for p in (element.get("points") or "").split())
    return [(float(x), float(y)) for x, y in pairs]


# -- every chart ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "chart", "hours"), CHARTS)
@pytest.mark.parametrize("rows", [[], busy_week()], ids=["empty", "busy"])
def test_a_chart_is_an_accessible_image_without_styles_scripts_or_assets(
    name: str, chart: Chart, hours: int, rows: list[HourlyStats]
) -> None:
    svg = chart(rows, start=START, hours=hours)
    root = parse(svg)
    assert root.get("role") == "img"
    assert label(svg)
    for element in root.iter():
        assert element.tag.removeprefix(NS) not in {"style", "script", "foreignObject", "image"}
        assert "style" not in element.attrib
        assert not any(a.startswith("on") for a in element.attrib)  # no event handlers
        assert not any("href" in a for a in element.attrib)  # nothing fetched
    assert "<style" not in svg
    assert "javascript:" not in svg


@pytest.mark.parametrize(("name", "chart", "hours"), CHARTS)
def test_a_chart_is_the_same_for_the_same_rows_in_any_order(
    name: str, chart: Chart, hours: int
) -> None:
    rows = busy_week()
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    first = chart(rows, start=START, hours=hours)
    assert chart(rows, start=START, hours=hours) == first
    assert chart(shuffled, start=START + timedelta(minutes=59), hours=hours) == first


@pytest.mark.parametrize(("name", "chart", "hours"), CHARTS)
def test_a_chart_refuses_rows_of_several_webhooks_and_unbounded_ranges(
    name: str, chart: Chart, hours: int
) -> None:
    other = HourlyStats("whk_2", START, 1, 0, 0, hist({0: 1}))
    with pytest.raises(ValueError, match="one webhook"):
        chart([at(0, s=1), other], start=START, hours=hours)
    for bad in (0, MAX_HOURS + 1):
        with pytest.raises(ValueError, match="hours"):
            chart([], start=START, hours=bad)


# -- the sparkline --------------------------------------------------------------------------------


def test_the_sparkline_draws_the_rate_per_hour_with_gaps() -> None:
    rows = [at(0, s=4), at(1, s=2, f=2), at(2, f=3), at(5, s=1, r=3)]
    svg = sparkline(rows, start=START)
    root = parse(svg)
    assert (root.get("width"), root.get("height")) == ("120", "24")
    assert label(svg) == (
        "Success rate by hour, 24 hours from 2026-11-30 10:00 UTC: 46.6% of 15 attempts"
    )
    (line,) = [m for m in marks(svg, "chart-rate") if m.tag == f"{NS}polyline"]
    (dot,) = [m for m in marks(svg, "chart-rate") if m.tag == f"{NS}circle"]
    top, bottom = SPARK_PAD, SPARK_HEIGHT - SPARK_PAD
    assert [y for _x, y in points(line)] == [top, (top + bottom) / 2, bottom]
    assert float(dot.get("cy") or 0) == top + 0.75 * (bottom - top)
    xs = [x for x, _y in points(line)]
    step = xs[1] - xs[0]
    assert float(dot.get("cx") or 0) == pytest.approx(xs[0] + 5 * step, abs=0.01)


@pytest.mark.parametrize(
    ("succeeded", "failed", "words"),
    [
        (97, 3, "97% of 100 attempts"),
        (999, 1, "99.9% of 1,000 attempts"),
        (9_999, 1, "99.9% of 10,000 attempts"),  # not rounded up to 100%
        (1, 9_999, "0.1% of 10,000 attempts"),  # not rounded down to 0%
        (0, 5, "0% of 5 attempts"),
        (5, 0, "100% of 5 attempts"),
        (0, 0, "no attempts"),
    ],
)
def test_the_sparkline_says_the_success_rate(succeeded: int, failed: int, words: str) -> None:
    assert label(sparkline([at(3, s=succeeded, f=failed)], start=START)).endswith(": " + words)


# -- the outcomes chart ---------------------------------------------------------------------------


def test_a_day_of_outcomes_is_a_stacked_bar_per_hour() -> None:
    svg = outcomes_chart([at(0, s=6, r=3, f=1), at(4, s=2), at(23, f=5)], start=START, hours=24)
    assert label(svg) == (
        "Delivery attempts by hour, 24 hours from 2026-11-30 10:00 UTC: "
        "8 succeeded, 3 retrying, 6 failed"
    )
    bars = list(parse(svg).iter(f"{NS}g"))
    assert [b.findtext(f"{NS}title") for b in bars] == [
        "Nov 30 10:00 to Nov 30 11:00 UTC: 6 succeeded, 3 retrying, 1 failed",
        "Nov 30 14:00 to Nov 30 15:00 UTC: 2 succeeded, 0 retrying, 0 failed",
        "Dec 1 09:00 to Dec 1 10:00 UTC: 0 succeeded, 0 retrying, 5 failed",
    ]
    # The axis goes to 10 (the largest bar): heights in proportion, succeeded at the bottom.
    first = {r.get("class"): r for r in bars[0].iter(f"{NS}rect")}
    heights = {cls: float(r.get("height") or 0) for cls, r in first.items()}
    assert heights == pytest.approx(
        {
            "chart-succeeded": 0.6 * PLOT_HEIGHT,
            "chart-retrying": 0.3 * PLOT_HEIGHT,
            "chart-failed": 0.1 * PLOT_HEIGHT,
        },
        abs=0.01,
    )
    ys = {cls: float(r.get("y") or 0) for cls, r in first.items()}
    assert ys["chart-failed"] < ys["chart-retrying"] < ys["chart-succeeded"]
    assert ys["chart-succeeded"] + heights["chart-succeeded"] == pytest.approx(
        HEIGHT - BOTTOM, abs=0.01
    )
    assert len(list(bars[1].iter(f"{NS}rect"))) == 1  # no empty segments
    texts = [t.text for t in parse(svg).iter(f"{NS}text")]
    assert {"10:00", "13:00", "07:00", "0", "5", "10", "attempts", "UTC"} <= set(texts)


def test_a_week_of_outcomes_is_a_bar_per_day() -> None:
    rows = [at(i, s=1, r=1 if i % 24 == 0 else 0) for i in range(168)]
    svg = outcomes_chart(rows, start=START, hours=168)
    assert label(svg) == (
        "Delivery attempts by day, 7 days from 2026-11-30 10:00 UTC: "
        "168 succeeded, 7 retrying, 0 failed"
    )
    titles = [g.findtext(f"{NS}title") for g in parse(svg).iter(f"{NS}g")]
    assert len(titles) == 7
    assert titles[0] == "Nov 30 10:00 to Dec 1 10:00 UTC: 24 succeeded, 1 retrying, 0 failed"
    texts = [t.text for t in parse(svg).iter(f"{NS}text")]
    assert [t for t in texts if t and t[:3] in {"Nov", "Dec"}] == [
        "Nov 30",
        "Dec 1",
        "Dec 2",
        "Dec 3",
        "Dec 4",
        "Dec 5",
        "Dec 6",
    ]


# -- the latency chart ----------------------------------------------------------------------------


def test_latency_is_two_lines_of_percentiles_per_hour_with_gaps() -> None:
    rows = [
        at(0, s=10, b0=10),  # p50 and p95: at most 10 ms
        at(1, s=20, b3=18, b10=2),  # p50 100 ms, p95 above 10 s
        at(2, s=20, b6=20),  # 1 s
        at(6, s=1, b9=1),  # alone after a gap: a dot
    ]
    svg = latency_chart(rows, start=START, hours=24)
    assert label(svg) == (
        "Latency by hour, 24 hours from 2026-11-30 10:00 UTC: p50 at most 100 ms, p95 at most 10 s"
    )
    (p50,) = [m for m in marks(svg, "chart-p50") if m.tag == f"{NS}polyline"]
    (p95,) = [m for m in marks(svg, "chart-p95") if m.tag == f"{NS}polyline"]
    ten_ms, hundred_ms, one_s, above = (
        points(p50)[0][1],
        points(p50)[1][1],
        points(p50)[2][1],
        points(p95)[1][1],
    )
    assert HEIGHT - BOTTOM == ten_ms > hundred_ms > one_s > above >= TOP
    assert hundred_ms - one_s == pytest.approx(ten_ms - hundred_ms)  # logarithmic
    assert [y for _x, y in points(p95)] == [ten_ms, above, one_s]
    dots = [m for m in marks(svg, "chart-p50") + marks(svg, "chart-p95") if m.tag == f"{NS}circle"]
    assert len(dots) == 2  # p50 and p95 of the hour alone, at the same place
    assert len({d.get("cx") for d in dots}) == 1


def test_latency_above_the_last_bound_is_said_in_words_and_escaped() -> None:
    svg = latency_chart([at(0, s=1, b10=1)], start=START, hours=24)
    assert label(svg).endswith(": p50 above 10 s, p95 above 10 s")
    assert "&gt; 10 s" in svg  # the axis label, escaped
    assert "> 10 s" in [t.text for t in parse(svg).iter(f"{NS}text")]
    assert label(latency_chart([], start=START, hours=168)) == (
        "Latency by hour, 7 days from 2026-11-30 10:00 UTC: no attempts"
    )
