"""``status``, ``events``, ``keys``, ``trigger`` and ``logs`` against the real server, with the
global flags (``--json``, ``--no-color``) and one-line errors."""

from __future__ import annotations

import json
import signal
import time

import httpx

from tests.cli.conftest import Cli, one_error_line
from tests.helpers import bearer

ANSI = "\x1b["


def test_status_shows_team_environment_server_and_rate_limit(cli: Cli) -> None:
    result = cli("status", *cli.flags())
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert cli.team_id in text
    assert "test" in text
    assert "cStar Webhooks 0.1.0" in text
    assert "requests used this window" in text
    data = json.loads(cli("status", "--json", *cli.flags()).stdout)
    assert data["key"]["mode"] == "test"
    assert data["server"]["version"] == "0.1.0"
    assert data["rateLimit"]["limit"] == 100000
    assert data["baseUrl"] == cli.server.base_url


def test_events_lists_the_catalog_by_category(cli: Cli) -> None:
    everything = cli("events", *cli.flags())
    assert everything.returncode == 0, everything.stderr
    for title in ("Tickets", "Customers", "Articles", "Gamification", "Surveys"):
        assert title in everything.stdout
    assert "35 event types" in everything.stdout
    tickets = json.loads(cli("events", "--category", "tickets", "--json", *cli.flags()).stdout)
    assert {e["category"] for e in tickets} == {"tickets"}
    assert "ticket.created" in {e["type"] for e in tickets}
    bad = cli("events", "--category", "nope", *cli.flags())
    assert "category" in one_error_line(bad)


def test_keys_create_list_revoke(cli: Cli) -> None:
    created = cli("keys", "create", "--name", "ci key", *cli.flags())
    assert created.returncode == 0, created.stderr
    assert "not shown again" in created.stdout
    made = json.loads(cli("keys", "create", "--name", "json key", "--json", *cli.flags()).stdout)
    assert made["key"].startswith("sk_test_")
    listed = json.loads(cli("keys", "list", "--json", *cli.flags()).stdout)
    assert made["id"] in {k["id"] for k in listed}
    assert all("key" not in k for k in listed)
    table = cli("keys", "list", *cli.flags())
    assert "json key" in table.stdout
    revoked = cli("keys", "revoke", made["id"], *cli.flags())
    assert revoked.returncode == 0, revoked.stderr
    after = httpx.get(f"{cli.server.base_url}/api/v1/status", headers=bearer(made["key"]))
    assert after.status_code == 401
    assert "not found" in one_error_line(cli("keys", "revoke", "key_nope", *cli.flags())).lower()
    assert "--type" in one_error_line(cli("keys", "create", "--type", "root", *cli.flags()))


def test_trigger_fires_a_test_event_and_says_where_it_went(cli: Cli) -> None:
    hook = httpx.post(
        f"{cli.server.base_url}/api/v1/teams/{cli.team_id}/webhooks",
        headers=bearer(cli.key),
        json={"name": "t", "url": "http://127.0.0.1:9/none", "events": ["boss.spawned"]},
    ).json()["data"]
    result = cli("trigger", "boss.spawned", *cli.flags())
    assert result.returncode == 0, result.stderr
    assert "boss.spawned" in result.stdout
    assert hook["id"] in result.stdout
    assert "http://127.0.0.1:9/none" in result.stdout
    data = json.loads(cli("trigger", "boss.spawned", "--json", *cli.flags()).stdout)
    assert data["deliveredTo"] == 1
    assert data["test"] is True
    assert "event" in one_error_line(cli("trigger", "boss.nope", *cli.flags()))


def test_logs_filter_and_tail(cli: Cli) -> None:
    base = f"{cli.server.base_url}/api/v1/teams/{cli.team_id}"
    httpx.get(f"{base}/webhooks/whk_missing", headers=bearer(cli.key))
    deadline = time.monotonic() + 10
    while True:
        result = cli("logs", "--json", "--status", "4xx", *cli.flags())
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        if any(r["path"].endswith("/webhooks/whk_missing") for r in rows):
            break
        assert time.monotonic() < deadline, result.stdout + result.stderr
        time.sleep(0.2)
    assert all(400 <= r["status"] < 500 for r in rows)
    assert all(sk not in json.dumps(rows) for sk in (cli.key,))
    posts_out = cli("logs", "--json", "--method", "post", *cli.flags()).stdout
    posts = [json.loads(x) for x in posts_out.splitlines()]
    assert all(r["method"] == "POST" for r in posts)
    text = cli("logs", *cli.flags())
    assert "/webhooks/whk_missing" in text.stdout

    follower = cli.popen("logs", "--tail", "--json", "--method", "DELETE", *cli.flags())
    try:
        time.sleep(1.5)
        httpx.delete(f"{base}/webhooks/whk_tailed", headers=bearer(cli.key))
        assert follower.stdout is not None
        paths = []
        for _ in range(50):  # the recent DELETEs first, then the new one
            paths.append(json.loads(follower.stdout.readline())["path"])
            if paths[-1].endswith("/webhooks/whk_tailed"):
                break
        assert paths[-1].endswith("/webhooks/whk_tailed"), paths
    finally:
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=10)
    assert follower.returncode == 0, err
    assert "status" in one_error_line(cli("logs", "--status", "6xx", *cli.flags()))


def test_no_color_and_json_keep_output_plain(cli: Cli) -> None:
    coloured = cli("status", *cli.flags(), FORCE_COLOR="1")
    assert ANSI in coloured.stdout
    plain = cli("status", "--no-color", *cli.flags(), FORCE_COLOR="1")
    assert ANSI not in plain.stdout
    by_env = cli("status", *cli.flags(), FORCE_COLOR="1", NO_COLOR="1")
    assert ANSI not in by_env.stdout
    as_json = cli("keys", "list", "--json", *cli.flags(), FORCE_COLOR="1")
    json.loads(as_json.stdout)


def test_usage_errors_are_one_line(cli: Cli) -> None:
    bad_flag = cli("status", "--bogus")
    assert bad_flag.returncode == 2
    line = one_error_line(bad_flag)
    assert "No such option" in line  # click's wording of the rest varies between releases
    assert "--bogus" in line
    missing = cli("listen")
    assert missing.returncode == 2
    assert "--forward-to" in one_error_line(missing)
    wrong_key = cli("status", "--api-key", "sk_test_" + "y" * 32, "--base-url", cli.server.base_url)
    assert "401" in one_error_line(wrong_key)


def test_a_person_at_a_terminal_sees_a_spinner_while_waiting(cli: Cli) -> None:
    """stderr on a terminal: the wait is shown; piped (every other test), it is not."""
    import os
    import pty
    import subprocess

    from tests.e2e.server import CSTAR

    main, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            [CSTAR, "status", *cli.flags()],
            stdout=subprocess.PIPE,
            stderr=secondary,
            env={**cli.env(), "TERM": "xterm"},
            cwd=cli.home,
        )
        os.close(secondary)
        out, _ = process.communicate(timeout=30)
        seen = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main)
    assert process.returncode == 0
    assert b"Asking the server" in seen
    assert b"Asking the server" not in out
    piped = cli("status", *cli.flags())
    assert "Asking the server" not in piped.stderr + piped.stdout
