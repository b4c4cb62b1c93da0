"""A webhook's delivery statistics as SVG charts: pure functions from hourly rows to markup.

Each function takes one webhook's ``HourlyStats`` rows (as ``DeliveryStore.hourly_stats``
returns them; hours without a row had no attempts), the first hour to show and how many, and
returns a complete ``<svg>`` element as a string for the page to embed as it is.

* No script, no external asset, no ``style`` attribute or element (the dashboard's
  Content-Security-Policy forbids inline styles): colours are presentation attributes, and
  every mark has a class the stylesheet may restyle (``chart-succeeded``, ``chart-retrying``,
  ``chart-failed``, ``chart-p50``, ``chart-p95``; ``chart-rate`` for the sparkline's line,
  ``chart-axis`` for axes and their labels).
* Each chart has ``role="img"``, an ``aria-label`` and a ``<title>`` that say what it shows in
  words; every text is escaped.
* Deterministic: the same rows give the same markup (times are UTC, numbers are formatted
  without the locale).

``outcomes_chart`` draws one bar per hour up to 48 hours, one bar per day (24 hours merged)
beyond: seven bars for a week. ``latency_chart`` and ``sparkline`` always draw one point per
hour, and leave a gap where an hour had no attempts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from html import escape

from cstar.server.domain.stats import (
    LATENCY_BOUNDS_MS,
    HourlyStats,
    fill_hours,
    hour_of,
    in_periods,
    merge,
)

#: The longest range a chart draws (31 days of hours): the markup grows with it.
MAX_HOURS = 24 * 31
#: Up to this many hours, ``outcomes_chart`` draws a bar per hour; beyond, a bar per day.
HOURLY_BARS_UP_TO = 48

SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 120, 24, 2
WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 20, 24

#: Default colours (the dashboard stylesheet's own), for a chart shown without it.
COLOURS = {
    "chart-succeeded": "#1a7f37",
    "chart-retrying": "#bf8700",
    "chart-failed": "#cf222e",
    "chart-p50": "#0969da",
    "chart-p95": "#8250df",
    "chart-rate": "#1a7f37",
    "chart-axis": "#4a5360",
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: The latency axis is logarithmic from the first bound to the last; "above 10 s" sits above.
_LOG_LOW = math.log10(LATENCY_BOUNDS_MS[0])
_LOG_HIGH = math.log10(LATENCY_BOUNDS_MS[-1])
_LOG_ABOVE = _LOG_HIGH + 0.4
_LATENCY_TICKS = (10, 100, 1000, 10000)


# -- the three charts ---------------------------------------------------------------------------


def sparkline(stats: Iterable[HourlyStats], *, start: datetime, hours: int = 24) -> str:
    """The success rate per hour as a small line (120x24), with gaps for hours without
    attempts. Its label gives the rate over the whole range."""
    hourly = _hourly(stats, start, hours)
    total = merge(hourly, webhook_id="", hour=hourly[0].hour)
    summary = (
        f"{_percent(total.succeeded, total.attempts)} of {_count(total.attempts)} attempts"
        if total.attempts
        else "no attempts"
    )
    label = f"Success rate by hour, {_span(hours)} from {_moment(hourly[0].hour)} UTC: {summary}"
    step = (SPARK_WIDTH - 2 * SPARK_PAD) / hours
    height = SPARK_HEIGHT - 2 * SPARK_PAD
    points = [
        None
        if row.success_rate is None
        else (SPARK_PAD + (i + 0.5) * step, SPARK_PAD + (1 - row.success_rate) * height)
        for i, row in enumerate(hourly)
    ]
    body = _lines(points, "chart-rate", width=1.5, dot=1.5)
    return _svg(SPARK_WIDTH, SPARK_HEIGHT, "chart chart-sparkline", label, body)


def outcomes_chart(stats: Iterable[HourlyStats], *, start: datetime, hours: int) -> str:
    """Attempts per hour (per day beyond 48 hours) as stacked bars: succeeded at the bottom,
    then retrying, then failed; a count axis and hour (or day) labels in UTC."""
    hourly = _hourly(stats, start, hours)
    daily = hours > HOURLY_BARS_UP_TO
    bars = in_periods(hourly, hours=24) if daily else hourly
    total = merge(hourly, webhook_id="", hour=hourly[0].hour)
    label = (
        f"Delivery attempts by {'day' if daily else 'hour'}, {_span(hours)} from "
        f"{_moment(hourly[0].hour)} UTC: {_count(total.succeeded)} succeeded, "
        f"{_count(total.retrying)} retrying, {_count(total.failed)} failed"
    )
    top = _nice_ceiling(max(bar.attempts for bar in bars))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / len(bars)
    parts = [
        *_count_axis(top, plot_height),
        *_time_axis(bars, slot, daily=daily),
    ]
    for i, bar in enumerate(bars):
        if not bar.attempts:
            continue
        x = LEFT + i * slot + slot * 0.1
        base: float = TOP + plot_height
        rects = []
        for count, cls in (
            (bar.succeeded, "chart-succeeded"),
            (bar.retrying, "chart-retrying"),
            (bar.failed, "chart-failed"),
        ):
            if not count:
                continue
            height = count / top * plot_height
            base -= height
            rects.append(
                _element(
                    "rect",
                    {
                        "class": cls,
                        "fill": COLOURS[cls],
                        "x": _num(x),
                        "y": _num(base),
                        "width": _num(slot * 0.8),
                        "height": _num(height),
                    },
                )
            )
        end = bar.hour + timedelta(hours=24 if daily else 1)
        tip = (
            f"{_clock(bar.hour)} to {_clock(end)} UTC: {_count(bar.succeeded)} succeeded, "
            f"{_count(bar.retrying)} retrying, {_count(bar.failed)} failed"
        )
        parts.append(f"<g><title>{escape(tip)}</title>{''.join(rects)}</g>")
    return _svg(WIDTH, HEIGHT, "chart chart-outcomes", label, "".join(parts))


def latency_chart(stats: Iterable[HourlyStats], *, start: datetime, hours: int) -> str:
    """Latency p50 and p95 per hour as two lines on a logarithmic axis (10 ms to 10 s, and
    "above 10 s"), with gaps for hours without attempts. The values are bucket bounds: "at
    most" that long."""
    hourly = _hourly(stats, start, hours)
    total = merge(hourly, webhook_id="", hour=hourly[0].hour)
    if total.attempts:
        summary = (
            f"p50 {_bound(total.latency_percentile(50))}, "
            f"p95 {_bound(total.latency_percentile(95))}"
        )
    else:
        summary = "no attempts"
    label = f"Latency by hour, {_span(hours)} from {_moment(hourly[0].hour)} UTC: {summary}"
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / hours
    parts = [*_latency_axis(plot_height), *_time_axis(hourly, slot, daily=False)]
    for percent, cls in ((50, "chart-p50"), (95, "chart-p95")):
        points = []
        for i, row in enumerate(hourly):
            value = row.latency_percentile(percent) if row.attempts else None
            points.append(
                None if value is None else (LEFT + (i + 0.5) * slot, _latency_y(value, plot_height))
            )
        parts.append(_lines(points, cls, width=2, dot=2))
    parts.append(_legend())
    return _svg(WIDTH, HEIGHT, "chart chart-latency", label, "".join(parts))


# -- data ---------------------------------------------------------------------------------------


def _hourly(stats: Iterable[HourlyStats], start: datetime, hours: int) -> list[HourlyStats]:
    """One webhook's rows, one per hour from the hour of ``start``, zeros where missing."""
    if not 1 <= hours <= MAX_HOURS:
        raise ValueError(f"a chart covers 1 to {MAX_HOURS} hours")
    rows = list(stats)
    webhooks = {row.webhook_id for row in rows}
    if len(webhooks) > 1:
        raise ValueError("a chart shows the statistics of one webhook")
    webhook_id = webhooks.pop() if webhooks else ""
    return fill_hours(rows, webhook_id=webhook_id, start=hour_of(start), hours=hours)


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at least ``value`` (1 for nothing)."""
    if value <= 1:
        return 1
    power = int(10 ** (len(str(value)) - 1))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    raise AssertionError("unreachable")  # pragma: no cover


def _latency_y(value: float, plot_height: float) -> float:
    level = _LOG_ABOVE if math.isinf(value) else math.log10(value)
    return TOP + plot_height * (1 - (level - _LOG_LOW) / (_LOG_ABOVE - _LOG_LOW))


# -- marks --------------------------------------------------------------------------------------


def _lines(
    points: Sequence[tuple[float, float] | None], cls: str, *, width: float, dot: float
) -> str:
    """A line per run of consecutive points (``None`` is a gap); a lone point is a dot."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(point)
    marks = []
    for run in runs:
        if len(run) == 1:  # a dot, whether a stylesheet fills it or only strokes it
            ((x, y),) = run
            colour = COLOURS[cls]
            attributes = {"class": cls, "fill": colour, "stroke": colour, "stroke-width": _num(dot)}
            marks.append(
                _element("circle", {**attributes, "cx": _num(x), "cy": _num(y), "r": _num(dot / 2)})
            )
        elif run:
            marks.append(
                _element(
                    "polyline",
                    {
                        "class": cls,
                        "fill": "none",
                        "stroke": COLOURS[cls],
                        "stroke-width": _num(width),
                        "stroke-linejoin": "round",
                        "points": " ".join(f"{_num(x)},{_num(y)}" for x, y in run),
                    },
                )
            )
    return "".join(marks)


def _count_axis(top: int, plot_height: float) -> list[str]:
    parts = [_axis_line(LEFT, TOP, LEFT, TOP + plot_height)]
    for value in (0, top // 2, top) if top > 1 else (0, top):
        y = TOP + plot_height * (1 - value / top)
        parts.append(_text(LEFT - 6, y + 3, _count(value), anchor="end"))
    parts.append(_text(4, TOP - 8, "attempts", anchor="start"))
    return parts


def _latency_axis(plot_height: float) -> list[str]:
    parts = [_axis_line(LEFT, TOP, LEFT, TOP + plot_height)]
    for bound in _LATENCY_TICKS:
        y = _latency_y(bound, plot_height)
        parts.append(_text(LEFT - 6, y + 3, _duration(bound), anchor="end"))
    parts.append(_text(LEFT - 6, _latency_y(math.inf, plot_height) + 3, "> 10 s", anchor="end"))
    return parts


def _time_axis(rows: Sequence[HourlyStats], slot: float, *, daily: bool) -> list[str]:
    """The baseline, and a label under each day, or every few hours."""
    base = HEIGHT - BOTTOM
    parts = [_axis_line(LEFT, base, WIDTH - RIGHT, base)]
    every = max(1, len(rows) // 8)
    for i, row in enumerate(rows):
        if daily:  # every bar is a day
            text = _day(row.hour)
        elif len(rows) > 24:  # hours over several days: the date at each midnight
            if row.hour.hour != 0:
                continue
            text = _day(row.hour)
        elif i % every == 0:  # one day or less: every few hours
            text = f"{row.hour.hour:02d}:00"
        else:
            continue
        parts.append(_text(LEFT + (i + 0.5) * slot, base + 14, text, anchor="middle"))
    parts.append(_text(WIDTH - RIGHT, TOP - 8, "UTC", anchor="end"))
    return parts


def _legend() -> str:
    parts = []
    for i, (cls, name) in enumerate((("chart-p50", "p50"), ("chart-p95", "p95"))):
        x = LEFT + 8 + i * 56
        parts.append(
            _element(
                "line",
                {
                    "class": cls,
                    "stroke": COLOURS[cls],
                    "stroke-width": "2",
                    "x1": _num(x),
                    "y1": _num(TOP - 13),
                    "x2": _num(x + 10),
                    "y2": _num(TOP - 13),
                },
            )
        )
        parts.append(_text(x + 14, TOP - 10, name, anchor="start"))
    return "".join(parts)


def _axis_line(x1: float, y1: float, x2: float, y2: float) -> str:
    return _element(
        "line",
        {
            "class": "chart-axis",
            "stroke": COLOURS["chart-axis"],
            "stroke-width": "1",
            "x1": _num(x1),
            "y1": _num(y1),
            "x2": _num(x2),
            "y2": _num(y2),
        },
    )


def _text(x: float, y: float, text: str, *, anchor: str) -> str:
    attributes = {
        "class": "chart-axis",
        "fill": COLOURS["chart-axis"],
        "font-size": "10",
        "text-anchor": anchor,
        "x": _num(x),
        "y": _num(y),
    }
    return f"<text{_attributes(attributes)}>{escape(text)}</text>"


def _svg(width: int, height: int, cls: str, label: str, body: str) -> str:
    attributes = {
        "xmlns": "http://www.w3.org/2000/svg",
        "class": cls,
        "width": str(width),
        "height": str(height),
        "viewBox": f"0 0 {width} {height}",
        "role": "img",
        "aria-label": label,
    }
    return f"<svg{_attributes(attributes)}><title>{escape(label)}</title>{body}</svg>"


def _element(name: str, attributes: dict[str, str]) -> str:
    return f"<{name}{_attributes(attributes)}/>"


def _attributes(attributes: dict[str, str]) -> str:
    return "".join(f' {name}="{escape(value, quote=True)}"' for name, value in attributes.items())


# -- words and numbers --------------------------------------------------------------------------


def _num(value: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _count(value: int) -> str:
    return f"{value:,}"


def _percent(part: int, whole: int) -> str:
    """97%, 99.5%: rounded down to a tenth, but never to 0% nor up to 100% when it is not."""
    if part >= whole:
        return "100%"
    tenths = min(max(part * 1000 // whole, 1 if part else 0), 999)
    return f"{tenths // 10}%" if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10}%"


def _duration(milliseconds: float) -> str:
    if milliseconds < 1000:
        return f"{milliseconds:g} ms"
    return f"{milliseconds / 1000:g} s"


def _bound(value: float | None) -> str:
    if value is None:
        return "unknown"
    if math.isinf(value):
        return f"above {_duration(LATENCY_BOUNDS_MS[-1])}"
    return f"at most {_duration(value)}"


def _span(hours: int) -> str:
    if hours > HOURLY_BARS_UP_TO and hours % 24 == 0:
        return f"{hours // 24} days"
    return "1 hour" if hours == 1 else f"{hours} hours"


def _day(moment: datetime) -> str:
    return f"{_MONTHS[moment.month - 1]} {moment.day}"


def _clock(moment: datetime) -> str:
    return f"{_day(moment)} {moment.hour:02d}:00"


def _moment(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {moment.hour:02d}:00"
