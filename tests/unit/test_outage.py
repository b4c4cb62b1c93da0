"""Backoff during an outage: bounded, growing, jittered, and two log lines per outage."""

from __future__ import annotations

import logging

import pytest

from cstar.server.outage import Outage


def test_waits_grow_to_the_cap_with_jitter_and_the_log_has_two_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    draws = iter([0.0, 1.0] * 50)
    outage = Outage(
        logging.getLogger("test.outage"),
        "the database",
        first=0.1,
        cap=5.0,
        monotonic=lambda: now[0],
        jitter=lambda: next(draws),
    )
    with caplog.at_level(logging.INFO, logger="test.outage"):
        assert not outage.lost
        waits = [outage.failed(OSError("connection refused")) for _ in range(40)]
        assert outage.lost
        now[0] += 42.0
        outage.recovered()
        outage.recovered()  # already back: nothing more to say
    assert waits[:4] == [0.05, 0.2, 0.2, 0.8]  # ceilings 0.1, 0.2, 0.4, 0.8, half to all of it
    assert max(waits) == 5.0
    assert min(waits) >= 0.05
    assert all(w >= 2.5 for w in waits[10:])  # never a burst of quick retries once capped
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "the database is unavailable (connection refused)" in lines[0]
    assert "reachable again after 42.0s (40 failed tries)" in lines[1]


def test_a_second_outage_starts_again_from_the_first_wait() -> None:
    outage = Outage(logging.getLogger("test.outage"), "x", first=1.0, cap=8.0, jitter=lambda: 1.0)
    assert [outage.failed("e") for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    outage.recovered()
    assert outage.failed("e") == 1.0
