"""``cstar mcp-server`` as an agent meets it: the real command as a subprocess, spoken to by the
MCP SDK's own stdio client, against a real ``cstar serve --dev``; what the tools do is checked
through the SDK and a real webhook receiver."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from cstar import __version__
from cstar import events as catalog
from cstar.sdk import AsyncCStarClient, NotFoundError
from cstar.webhook import verify_signature
from tests.e2e.server import CSTAR, run_cstar
from tests.mcp.helpers import Api, cstar_mcp, error, mcp_env, mcp_session, ok, text_of
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e

TOOLS = {
    "cstar_trigger_webhook",
    "cstar_list_events",
    "cstar_get_status",
    "cstar_list_webhooks",
    "cstar_get_webhook",
    "cstar_create_webhook",
    "cstar_update_webhook",
    "cstar_delete_webhook",
    "cstar_test_webhook",
    "cstar_list_deliveries",
    "cstar_get_delivery",
    "cstar_resend_delivery",
}


def signed_in(api: Api, home: Path) -> StdioServerParameters:
    return cstar_mcp(home, "--api-key", api.keys.secret_key, "--base-url", api.base_url)


async def test_it_lists_the_tools_with_typed_schemas(api: Api, home: Path, tmp_path: Path) -> None:
    async with mcp_session(signed_in(api, home), tmp_path / "stderr.log") as session:
        info = session.server_info
        assert info is not None
        assert (info.name, info.version) == ("cstar", __version__)
        assert session.instructions
        assert "signing secret" in session.instructions
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}

    assert set(tools) == TOOLS
    for tool in tools.values():
        assert len(tool.description or "") > 40, tool.name
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False
        for name, prop in tool.input_schema["properties"].items():
            assert prop.get("description"), (tool.name, name)
            assert "type" in prop, (tool.name, name, prop)
    create = tools["cstar_create_webhook"].input_schema
    assert create["required"] == ["url", "events"]
    assert create["properties"]["events"]["type"] == "array"
    assert create["properties"]["events"]["items"]["type"] == "string"
    assert create["properties"]["is_active"] == {
        "type": "boolean",
        "default": True,
        "description": "false creates it paused.",
    }
    assert create["properties"]["signature_scheme"]["enum"] == ["cstar", "standard-webhooks"]
    assert create["properties"]["ordering"]["enum"] == ["none", "fifo"]
    assert create["properties"]["headers"]["type"] == "object"
    assert create["properties"]["headers"]["additionalProperties"] == {"type": "string"}
    assert create["properties"]["headers"]["maxProperties"] == 20
    assert (
        create["properties"]["rate_limit"]["minimum"],
        create["properties"]["rate_limit"]["maximum"],
    ) == (1, 10_000)
    assert create["properties"]["timeout_seconds"]["maximum"] == 30
    update = tools["cstar_update_webhook"].input_schema
    for name in ("rate_limit", "timeout_seconds"):  # null clears them: the schema says so
        assert update["properties"][name]["type"] == ["integer", "null"], name
        assert "null" in update["properties"][name]["description"], name
    assert "replaces" in update["properties"]["headers"]["description"].lower()
    deliveries = tools["cstar_list_deliveries"].input_schema
    assert deliveries["required"] == ["webhook_id"]
    assert deliveries["properties"]["status"]["enum"] == [
        "pending",
        "paused",
        "succeeded",
        "failed",
    ]
    assert deliveries["properties"]["limit"] | {"description": ""} == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 20,
        "description": "",
    }
    assert tools["cstar_trigger_webhook"].input_schema["required"] == ["event"]
    assert tools["cstar_get_status"].input_schema["properties"] == {}
    assert tools["cstar_update_webhook"].input_schema["required"] == ["webhook_id"]
    assert tools["cstar_resend_delivery"].input_schema["required"] == ["delivery_id"]

    hints = {name: tool.annotations for name, tool in tools.items()}
    for name in ("cstar_list_events", "cstar_get_status", "cstar_list_webhooks"):
        assert hints[name] is not None
        assert hints[name].read_only_hint is True
    delete = hints["cstar_delete_webhook"]
    assert delete is not None
    assert delete.destructive_hint is True
    trigger = hints["cstar_trigger_webhook"]
    assert trigger is not None
    assert trigger.read_only_hint is False


async def test_status_and_the_event_catalog(api: Api, home: Path, tmp_path: Path) -> None:
    async with mcp_session(signed_in(api, home), tmp_path / "stderr.log") as session:
        status = await session.call_tool("cstar_get_status", {})
        everything = await session.call_tool("cstar_list_events", {})
        tickets = await session.call_tool(
            "cstar_list_events", {"category": "tickets", "include_samples": True}
        )
        unknown = await session.call_tool("cstar_list_events", {"category": "nope"})

    data = ok(status)
    assert data["team"]["id"] == api.keys.team_id
    assert data["key"]["type"] == "secret"
    assert data["key"]["mode"] == "test"
    assert api.keys.secret_key.startswith(data["key"]["prefix"])
    assert data["server"]["version"] == __version__
    assert data["server"]["dev"] is True
    assert data["rateLimit"]["limit"] > data["rateLimit"]["remaining"] >= 0
    assert (data["baseUrl"], data["keySource"]) == (api.base_url, "--api-key")
    assert api.keys.team_id in text_of(status)
    assert api.keys.secret_key not in text_of(status)

    listed = ok(everything)
    assert listed["count"] == len(catalog.EVENT_TYPES)
    assert [e["type"] for e in listed["events"]] == [t.name for t in catalog.EVENT_TYPES]
    assert all("sample" not in e and e["description"] for e in listed["events"])
    assert "ticket.created" in text_of(everything)

    in_tickets = ok(tickets)["events"]
    assert {e["type"] for e in in_tickets} == {t.name for t in catalog.event_types_in("tickets")}
    created = next(e for e in in_tickets if e["type"] == "ticket.created")
    assert created["sample"]["ticket"]["id"]

    failure = error(unknown)
    assert (failure["code"], failure["param"], failure["status"]) == (
        "PARAMETER_INVALID",
        "category",
        400,
    )
    assert failure["requestId"].startswith("req_")


async def test_managing_webhooks_is_visible_through_the_api(
    api: Api, home: Path, tmp_path: Path, sdk: AsyncCStarClient
) -> None:
    url = "http://127.0.0.1:9/manage"
    async with mcp_session(signed_in(api, home), tmp_path / "stderr.log") as session:
        created = await session.call_tool(
            "cstar_create_webhook",
            {"url": url, "events": ["ticket.created", "customer.*"], "name": "From MCP"},
        )
        webhook = ok(created)["webhook"]
        whk = webhook["id"]
        try:
            assert webhook["secret"].startswith("whsec_")
            assert webhook["secret"] in text_of(created)
            assert "only this once" in text_of(created)
            assert "only this once" in ok(created)["secretNote"]
            seen = await sdk.webhooks.get(whk)
            assert (seen.name, seen.url, seen.events, seen.is_active) == (
                "From MCP",
                url,
                ("ticket.created", "customer.*"),
                True,
            )
            assert seen.secret is None

            listed = ok(await session.call_tool("cstar_list_webhooks", {}))
            assert whk in [w["id"] for w in listed["webhooks"]]
            assert all("secret" not in w for w in listed["webhooks"])
            got = ok(await session.call_tool("cstar_get_webhook", {"webhook_id": whk}))
            assert got["webhook"]["url"] == url
            assert "secret" not in got["webhook"]

            # events as a comma-separated string, as the REST API takes them too
            updated = await session.call_tool(
                "cstar_update_webhook",
                {
                    "webhook_id": whk,
                    "name": "Renamed",
                    "events": "ticket.closed, ticket.created",
                    "is_active": False,
                },
            )
            assert ok(updated)["webhook"]["isActive"] is False
            seen = await sdk.webhooks.get(whk)
            assert (seen.name, seen.events, seen.is_active) == (
                "Renamed",
                ("ticket.closed", "ticket.created"),
                False,
            )
            inactive = ok(await session.call_tool("cstar_list_webhooks", {"active": False}))
            active = ok(await session.call_tool("cstar_list_webhooks", {"active": True}))
            assert whk in [w["id"] for w in inactive["webhooks"]]
            assert whk not in [w["id"] for w in active["webhooks"]]

            page = ok(await session.call_tool("cstar_list_webhooks", {"limit": 1}))
            assert page["count"] == 1
            if page["hasMore"]:
                after = {"limit": 1, "cursor": page["nextCursor"]}
                following = ok(await session.call_tool("cstar_list_webhooks", after))
                assert following["webhooks"][0]["id"] != page["webhooks"][0]["id"]

            deleted = ok(await session.call_tool("cstar_delete_webhook", {"webhook_id": whk}))
            assert deleted == {"id": whk, "deleted": True}
            with pytest.raises(NotFoundError):
                await sdk.webhooks.get(whk)
        finally:
            with contextlib.suppress(NotFoundError):
                await sdk.webhooks.delete(whk)


def controls_of(webhook: dict[str, Any]) -> tuple[Any, ...]:
    """The five delivery controls of a webhook as the API (and so the tools) show it."""
    return tuple(
        webhook[key]
        for key in ("signatureScheme", "headers", "rateLimit", "ordering", "timeoutSeconds")
    )


async def test_delivery_controls_are_set_shown_and_changed_through_the_tools(
    api: Api, home: Path, tmp_path: Path, sdk: AsyncCStarClient
) -> None:
    token = "Bearer s3cr3t-t0k3n"
    async with mcp_session(signed_in(api, home), tmp_path / "stderr.log") as session:
        created = await session.call_tool(
            "cstar_create_webhook",
            {
                "url": "http://127.0.0.1:9/controls",
                "events": ["*"],
                "signature_scheme": "standard-webhooks",
                # as a JSON string, the way some models send objects
                "headers": json.dumps({"Authorization": token, "X-Tenant": "acme"}),
                "rate_limit": 20,
                "ordering": "fifo",
                "timeout_seconds": 5,
            },
        )
        webhook = ok(created)["webhook"]
        whk = webhook["id"]
        try:
            headers = {"Authorization": token, "X-Tenant": "acme"}
            expected = ("standard-webhooks", headers, 20, "fifo", 5)
            assert controls_of(webhook) == expected
            summary = getattr(created.content[0], "text", "")  # the summary, before the JSON
            assert "Authorization, X-Tenant" in summary
            assert token not in summary  # header names only in the words
            assert token in text_of(created)  # the JSON is the API's, values included
            assert "webhook-signature" in summary  # how to verify this scheme
            seen = await sdk.webhooks.get(whk)
            assert (seen.signature_scheme, dict(seen.headers), seen.rate_limit) == (
                "standard-webhooks",
                headers,
                20,
            )
            got = ok(await session.call_tool("cstar_get_webhook", {"webhook_id": whk}))
            assert controls_of(got["webhook"]) == expected
            listed = ok(await session.call_tool("cstar_list_webhooks", {}))
            mine = next(w for w in listed["webhooks"] if w["id"] == whk)
            assert controls_of(mine) == expected

            # null clears the rate limit and the timeout; what is left out stays.
            cleared = ok(
                await session.call_tool(
                    "cstar_update_webhook",
                    {"webhook_id": whk, "rate_limit": None, "timeout_seconds": None},
                )
            )
            assert controls_of(cleared["webhook"]) == (
                "standard-webhooks",
                headers,
                None,
                "fifo",
                None,
            )
            emptied = ok(
                await session.call_tool(
                    "cstar_update_webhook",
                    {"webhook_id": whk, "headers": {}, "signature_scheme": "cstar"},
                )
            )
            assert controls_of(emptied["webhook"]) == ("cstar", {}, None, "fifo", None)
            seen = await sdk.webhooks.get(whk)
            assert (dict(seen.headers), seen.ordering, seen.timeout_seconds) == ({}, "fifo", None)

            reserved = error(
                await session.call_tool(
                    "cstar_update_webhook",
                    {"webhook_id": whk, "headers": {"X-Signature": "forged"}},
                )
            )
            assert (reserved["code"], reserved["param"], reserved["status"]) == (
                "PARAMETER_INVALID",
                "headers",
                400,
            )
            # Out of range: refused by the tool's schema before any request.
            too_fast = error(
                await session.call_tool(
                    "cstar_update_webhook", {"webhook_id": whk, "rate_limit": 0}
                )
            )
            assert (too_fast["code"], too_fast["param"]) == ("PARAMETER_INVALID", "rate_limit")
            assert (await sdk.webhooks.get(whk)).rate_limit is None
        finally:
            await sdk.webhooks.delete(whk)


async def test_trigger_reaches_a_real_receiver_and_deliveries_can_be_inspected_and_resent(
    api: Api, home: Path, tmp_path: Path, sdk: AsyncCStarClient, receiver: Receiver
) -> None:
    async with mcp_session(signed_in(api, home), tmp_path / "stderr.log") as session:
        created = ok(
            await session.call_tool(
                "cstar_create_webhook",
                {"url": receiver.url("/hook"), "events": ["ticket.created"]},
            )
        )["webhook"]
        whk, secret = created["id"], created["secret"]
        try:
            fired = await session.call_tool(
                "cstar_trigger_webhook", {"event": "ticket.created", "wait_seconds": 15}
            )
            result = ok(fired)
            assert result["event"] == "ticket.created"
            assert result["test"] is True
            mine = [d for d in result["deliveries"] if d["webhookId"] == whk]
            assert len(mine) == 1
            assert mine[0]["url"] == receiver.url("/hook")
            assert mine[0]["status"] == "succeeded"
            assert mine[0]["lastStatus"] == 200
            assert receiver.url("/hook") in text_of(fired)
            dlv = mine[0]["deliveryId"]

            (request,) = await receiver.wait_for(1, "/hook")
            assert request.header("x-event-id") == result["eventId"]
            assert request.header("x-webhook-id") == whk
            assert verify_signature(request.body, request.header("x-signature"), secret)

            listed = ok(await session.call_tool("cstar_list_deliveries", {"webhook_id": whk}))
            assert [d["id"] for d in listed["deliveries"]] == [dlv]
            filters: list[tuple[dict[str, Any], int]] = [
                ({"status": "succeeded"}, 1),
                ({"status": "failed"}, 0),
                ({"event_type": "ticket.created"}, 1),
                ({"event_type": "ticket.closed"}, 0),
            ]
            for extra, count in filters:
                found = await session.call_tool(
                    "cstar_list_deliveries", {"webhook_id": whk, **extra}
                )
                assert ok(found)["count"] == count, extra

            detail = ok(await session.call_tool("cstar_get_delivery", {"delivery_id": dlv}))
            delivery = detail["delivery"]
            assert delivery["eventId"] == result["eventId"]
            assert delivery["payload"]["type"] == "ticket.created"
            assert [a["status"] for a in delivery["attempts"]] == [200]

            resent = ok(await session.call_tool("cstar_resend_delivery", {"delivery_id": dlv}))
            assert resent["delivery"]["id"] == dlv
            again = await receiver.wait_for(2, "/hook")
            assert again[1].header("x-event-id") == result["eventId"]
            assert again[1].body == again[0].body
            assert verify_signature(again[1].body, again[1].header("x-signature"), secret)

            tested = ok(await session.call_tool("cstar_test_webhook", {"webhook_id": whk}))
            assert (tested["success"], tested["status"], tested["event"]) == (
                True,
                200,
                "ticket.created",
            )
            await receiver.wait_for(3, "/hook")

            unsubscribed = catalog.event_types_in("surveys")[0].name
            nobody = await session.call_tool("cstar_trigger_webhook", {"event": unsubscribed})
            assert ok(nobody)["deliveredTo"] == 0
            assert "nothing was sent" in text_of(nobody)
        finally:
            await sdk.webhooks.delete(whk)


async def test_api_and_argument_errors_are_tool_errors(
    api: Api, home: Path, tmp_path: Path
) -> None:
    async with mcp_session(signed_in(api, home), tmp_path / "stderr.log") as session:
        missing = error(await session.call_tool("cstar_get_webhook", {"webhook_id": "whk_nope"}))
        assert (missing["code"], missing["type"], missing["status"]) == (
            "RESOURCE_MISSING",
            "not_found_error",
            404,
        )
        assert missing["requestId"].startswith("req_")
        assert "cstar_list_webhooks" in missing["hint"]
        for tool, args in [
            ("cstar_update_webhook", {"webhook_id": "whk_nope", "name": "x"}),
            ("cstar_delete_webhook", {"webhook_id": "whk_nope"}),
            ("cstar_list_deliveries", {"webhook_id": "whk_nope"}),
            ("cstar_get_delivery", {"delivery_id": "dlv_nope"}),
            ("cstar_resend_delivery", {"delivery_id": "dlv_nope"}),
        ]:
            assert error(await session.call_tool(tool, args))["code"] == "RESOURCE_MISSING", tool

        bad_event = await session.call_tool(
            "cstar_create_webhook",
            {"url": "https://example.com/hook", "events": ["ticket.exploded"]},
        )
        failure = error(bad_event)
        assert (failure["code"], failure["param"], failure["status"]) == (
            "PARAMETER_INVALID",
            "events",
            400,
        )
        assert "ticket.exploded" in failure["message"]
        bad_trigger = error(await session.call_tool("cstar_trigger_webhook", {"event": "nope.x"}))
        assert (bad_trigger["code"], bad_trigger["param"]) == ("PARAMETER_INVALID", "event")
        bad_url = error(
            await session.call_tool(
                "cstar_create_webhook", {"url": "ftp://example.com", "events": ["*"]}
            )
        )
        assert (bad_url["code"], bad_url["param"]) == ("PARAMETER_INVALID", "url")

        # Arguments the schema refuses never reach the API, and fail the same way.
        too_many = error(await session.call_tool("cstar_list_webhooks", {"limit": 500}))
        assert (too_many["code"], too_many["param"]) == ("PARAMETER_INVALID", "limit")
        no_url = error(await session.call_tool("cstar_create_webhook", {"events": ["*"]}))
        assert (no_url["code"], no_url["param"]) == ("PARAMETER_MISSING", "url")
        typo = error(await session.call_tool("cstar_list_webhooks", {"actve": True}))
        assert (typo["code"], typo["param"]) == ("PARAMETER_INVALID", "actve")
        assert "unknown parameter" in typo["message"]
        nothing = error(await session.call_tool("cstar_update_webhook", {"webhook_id": "whk_x"}))
        assert nothing["code"] == "PARAMETER_MISSING"

        with pytest.raises(MCPError, match="Unknown tool"):
            await session.call_tool("cstar_list_tickets", {})

        # None of that hurt the server.
        assert ok(await session.call_tool("cstar_get_status", {}))["team"]["id"]


async def test_a_bad_key_or_an_unreachable_server_gives_clear_tool_errors(
    api: Api, home: Path, tmp_path: Path
) -> None:
    bogus = cstar_mcp(home, "--api-key", "sk_test_bogus0000000000", "--base-url", api.base_url)
    async with mcp_session(bogus, tmp_path / "bogus.log") as session:
        assert {t.name for t in (await session.list_tools()).tools} == TOOLS
        for tool in ("cstar_get_status", "cstar_list_webhooks", "cstar_list_events"):
            failure = error(await session.call_tool(tool, {}))
            assert (failure["code"], failure["status"]) == ("authentication_required", 401)
            assert "--api-key" in failure["hint"]
    log = (tmp_path / "bogus.log").read_text()
    assert "tool calls will fail until this is fixed" in log
    assert "sk_test_bogus0000000000" not in log

    publishable = cstar_mcp(home, "--api-key", api.keys.publishable_key, "--base-url", api.base_url)
    async with mcp_session(publishable, tmp_path / "pk.log") as session:
        assert ok(await session.call_tool("cstar_get_status", {}))["key"]["type"] == "publishable"
        assert ok(await session.call_tool("cstar_list_events", {}))["count"] > 0
        denied = error(await session.call_tool("cstar_list_webhooks", {}))
        assert (denied["code"], denied["status"]) == ("insufficient_permissions", 403)
        assert "secret key" in denied["hint"]

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    down = cstar_mcp(home, "--api-key", api.keys.secret_key, "--base-url", closed)
    async with mcp_session(down, tmp_path / "down.log") as session:
        for tool in ("cstar_get_status", "cstar_list_webhooks"):
            failure = error(await session.call_tool(tool, {}))
            assert (failure["type"], failure["code"]) == (
                "api_connection_error",
                "connection_failed",
            )
            assert closed in failure["hint"]


async def test_the_seed_config_block_works_with_the_api_key_only(
    api: Api, home: Path, tmp_path: Path, sdk: AsyncCStarClient
) -> None:
    # The team's keys are test-mode ones, which cannot create live keys: the operator can.
    made = run_cstar(
        "admin", "create-key", "--team", api.keys.team_id, "--mode", "live", "--json", cwd=api.cwd
    )
    assert made.returncode == 0, made.stderr
    live = json.loads(made.stdout)
    assert live["key"].startswith("sk_live_")
    config = {
        "mcpServers": {
            "cstar": {"command": "cstar", "args": ["mcp-server", "--api-key", live["key"]]}
        }
    }
    server = config["mcpServers"]["cstar"]
    # No team id anywhere: the server finds the key's team itself. Only where the API runs is
    # given, in the config's env (a real install would use the default base URL or --base-url).
    params = StdioServerParameters(**server, env=mcp_env(home, CSTAR_BASE_URL=api.base_url))
    try:
        async with mcp_session(params, tmp_path / "stderr.log") as session:
            status = ok(await session.call_tool("cstar_get_status", {}))
            assert status["team"]["id"] == api.keys.team_id
            assert (status["key"]["mode"], status["key"]["type"]) == ("live", "secret")
            created = ok(
                await session.call_tool(
                    "cstar_create_webhook",
                    {"url": "https://example.com/live", "events": ["*"]},
                )
            )
            whk = created["webhook"]["id"]
            assert (await sdk.webhooks.get(whk)).url == "https://example.com/live"
            await sdk.webhooks.delete(whk)
    finally:
        await sdk.keys.revoke(live["id"])


def test_stdout_carries_only_mcp_messages_and_stdin_eof_ends_the_server(home: Path) -> None:
    """The raw wire: no key configured at all (no flag, no env, no login), so the tool call
    fails, and warnings are logged; stdout still holds JSON-RPC messages only."""
    process = subprocess.Popen(
        [CSTAR, "mcp-server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=mcp_env(home),
        text=True,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    stdout = process.stdout
    lines: queue.Queue[str] = queue.Queue()

    def read_stdout() -> None:
        for line in stdout:
            lines.put(line)

    pump = threading.Thread(target=read_stdout, daemon=True)
    pump.start()

    def send(message: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        process.stdin.flush()

    def answer(request_id: int) -> dict[str, Any]:
        while True:
            message = json.loads(lines.get(timeout=20))
            assert message["jsonrpc"] == "2.0"
            if message.get("id") == request_id:
                return message

    try:
        send(
            {
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "0"},
                },
            }
        )
        assert answer(1)["result"]["serverInfo"]["name"] == "cstar"
        send({"method": "notifications/initialized"})
        send({"id": 2, "method": "tools/list"})
        assert len(answer(2)["result"]["tools"]) == len(TOOLS)
        send(
            {
                "id": 3,
                "method": "tools/call",
                "params": {"name": "cstar_get_status", "arguments": {}},
            }
        )
        result = answer(3)["result"]
        assert result["isError"] is True
        failure = result["structuredContent"]["error"]
        assert failure["code"] == "not_configured"
        assert "cstar login" in failure["message"]
        assert "--api-key" in failure["hint"]
        process.stdin.close()
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    pump.join(timeout=5)
    while not lines.empty():  # anything left on stdout must be JSON-RPC too
        assert json.loads(lines.get())["jsonrpc"] == "2.0"
    assert process.stderr is not None
    log = process.stderr.read()
    process.stderr.close()
    process.stdout.close()
    assert "cstar mcp-server: WARNING: tool calls will fail until this is fixed" in log


BLOCK_MCP = """
import sys

class NoMcp:
    def find_spec(self, name, path=None, target=None):
        if name == "mcp" or name.startswith("mcp."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoMcp())
from cstar.cli.main import app
app(sys.argv[1:], prog_name="cstar")
"""


def test_without_the_mcp_extra_it_says_how_to_install_it(home: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", BLOCK_MCP, "mcp-server", "--api-key", "sk_test_x"],
        capture_output=True,
        text=True,
        timeout=30,
        env=mcp_env(home),
        check=False,
    )
    assert run.returncode == 1, run.stderr
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1
    assert "pip install 'cstar[mcp]'" in run.stderr

    # The other commands do not need it: loading the CLI imports no MCP module.
    code = (
        "import sys, cstar.cli.main; "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')]"
    )
    imported = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert imported.returncode == 0, imported.stderr
