"""What each call sends, checked once for both clients: the operations, built without I/O."""

from __future__ import annotations

import inspect
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from cstar.sdk import _operations as ops
from cstar.sdk import resources
from cstar.sdk.models import Webhook

#: A webhook as the API shows it, before the delivery controls existed.
WEBHOOK_JSON: dict[str, Any] = {
    "id": "whk_1",
    "name": "n",
    "url": "u",
    "events": ["*"],
    "isActive": True,
    "createdAt": "2026-01-02T03:04:05Z",
}


def test_events_may_be_a_list_or_a_comma_string() -> None:
    as_string = ops.create_webhook(url="https://x.test/h", events=" ticket.created, ticket.* ,")
    as_list = ops.create_webhook(url="https://x.test/h", events=("ticket.created", "ticket.*"))
    assert as_string.body is not None
    assert as_list.body is not None
    assert as_string.body["events"] == as_list.body["events"] == ["ticket.created", "ticket.*"]
    empties: list[ops.Events] = ["", " , ", []]
    for bad in empties:
        with pytest.raises(ValueError, match="at least one"):
            ops.create_webhook(url="https://x.test/h", events=bad)
    with pytest.raises(TypeError, match="events"):
        ops.create_webhook(url="https://x.test/h", events=[1])  # type: ignore[list-item]


def test_create_sends_name_url_events_and_only_a_given_is_active() -> None:
    op = ops.create_webhook(url="https://x.test/h", events="*", name="n")
    assert (op.method, op.path, op.retry_safe) == ("POST", "webhooks", False)
    assert op.body == {"name": "n", "url": "https://x.test/h", "events": ["*"]}
    paused = ops.create_webhook(url="https://x.test/h", events="*", is_active=False)
    assert paused.body is not None
    assert (paused.body["name"], paused.body["isActive"]) == ("https://x.test/h", False)


def test_update_sends_only_the_given_fields() -> None:
    assert ops.update_webhook("whk_1").body == {}
    op = ops.update_webhook("whk_1", is_active=False, events="a.b,c.d")
    assert (op.method, op.path, op.retry_safe) == ("PATCH", "webhooks/whk_1", True)
    assert op.body == {"isActive": False, "events": ["a.b", "c.d"]}
    assert ops.update_webhook("whk_1", name=None).body == {"name": None}  # type: ignore[arg-type]


def test_create_sends_each_delivery_control_given_in_camel_case() -> None:
    op = ops.create_webhook(
        url="https://x.test/h",
        events="*",
        signature_scheme="standard-webhooks",
        headers={"Authorization": "Bearer abc", "X-Tenant": "acme"},
        rate_limit=50,
        ordering="fifo",
        timeout_seconds=10,
    )
    assert op.body is not None
    assert {k: v for k, v in op.body.items() if k not in ("name", "url", "events")} == {
        "signatureScheme": "standard-webhooks",
        "headers": {"Authorization": "Bearer abc", "X-Tenant": "acme"},
        "rateLimit": 50,
        "ordering": "fifo",
        "timeoutSeconds": 10,
    }
    # Not given: not sent, so the server's defaults apply (and an older server is not
    # handed fields it would refuse).
    some = ops.create_webhook(url="https://x.test/h", events="*", ordering="none", headers={})
    assert some.body == {
        "name": "https://x.test/h",
        "url": "https://x.test/h",
        "events": ["*"],
        "ordering": "none",
        "headers": {},
    }


def test_update_tells_a_control_left_out_from_one_cleared() -> None:
    cleared = ops.update_webhook("whk_1", rate_limit=None, timeout_seconds=None, headers={})
    assert cleared.body == {"rateLimit": None, "timeoutSeconds": None, "headers": {}}
    assert ops.update_webhook("whk_1", ordering="fifo").body == {"ordering": "fifo"}
    op = ops.update_webhook(
        "whk_1",
        signature_scheme="cstar",
        headers={"X-Tenant": "acme"},
        rate_limit=7,
        timeout_seconds=30,
    )
    assert op.body == {
        "signatureScheme": "cstar",
        "headers": {"X-Tenant": "acme"},
        "rateLimit": 7,
        "timeoutSeconds": 30,
    }
    assert repr(ops.NOT_GIVEN) == "NOT_GIVEN"


def test_delivery_controls_of_the_wrong_type_fail_before_sending() -> None:
    numbered: Any = {"X-Token": 12345}
    with pytest.raises(TypeError, match="the value of header X-Token must be a string"):
        ops.create_webhook(url="u", events="*", headers=numbered)
    with pytest.raises(TypeError, match="header names must be strings"):
        ops.update_webhook("whk_1", headers={1: "v"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="mapping"):
        ops.update_webhook("whk_1", headers=[("X-A", "b")])  # type: ignore[arg-type]
    for bad in (True, 2.5, "10"):
        with pytest.raises(TypeError, match="rate_limit must be an integer"):
            ops.create_webhook(url="u", events="*", rate_limit=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="timeout_seconds must be an integer"):
            ops.update_webhook("whk_1", timeout_seconds=bad)  # type: ignore[arg-type]
    # The range is the API's to check: its message names the field (see test_webhooks).
    out_of_range = ops.create_webhook(url="u", events="*", rate_limit=0, timeout_seconds=99)
    assert out_of_range.body is not None
    assert (out_of_range.body["rateLimit"], out_of_range.body["timeoutSeconds"]) == (0, 99)


def test_a_header_value_never_shows_in_an_error_or_a_repr() -> None:
    secret_value = "Bearer very-secret-token"
    as_bytes: Any = {"Authorization": secret_value.encode()}
    with pytest.raises(TypeError) as caught:
        ops.create_webhook(url="u", events="*", headers=as_bytes)
    assert "very-secret-token" not in str(caught.value)
    webhook = Webhook.from_json({**WEBHOOK_JSON, "headers": {"Authorization": secret_value}})
    assert webhook.headers == {"Authorization": secret_value}
    assert secret_value not in repr(webhook)
    assert webhook in {webhook}  # still hashable


def test_ids_are_one_escaped_path_segment_and_never_empty() -> None:
    assert ops.get_webhook("a/b?c").path == "webhooks/a%2Fb%3Fc"
    for bad in ("", "  "):
        with pytest.raises(ValueError, match="id must not be empty"):
            ops.get_webhook(bad)
    with pytest.raises(TypeError):
        ops.delete_webhook(None)  # type: ignore[arg-type]


def test_lists_are_paged_retry_safe_gets_with_their_filters() -> None:
    paged = ops.list_deliveries("whk_1", status="failed", event_type="ticket.created", limit=5)
    first = paged.first
    assert (first.method, first.path, first.retry_safe) == (
        "GET",
        "webhooks/whk_1/deliveries",
        True,
    )
    assert first.query == {"limit": "5", "status": "failed", "eventType": "ticket.created"}
    assert paged.after("abc").query == {**first.query, "cursor": "abc"}
    assert ops.list_webhooks(active=False).first.query == {"active": "false"}
    assert ops.list_keys().first.query == {}
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="limit"):
            ops.list_webhooks(limit=bad)  # type: ignore[arg-type]


def test_publish_always_sends_an_idempotency_key() -> None:
    one = ops.publish_event("ticket.created", {"ticket": {}})
    two = ops.publish_event("ticket.created", {"ticket": {}})
    assert one.retry_safe
    assert one.body is not None
    assert two.body is not None
    assert uuid.UUID(one.body["idempotencyKey"]).version == 4
    assert one.body["idempotencyKey"] != two.body["idempotencyKey"]
    given = ops.publish_event("ticket.created", {}, idempotency_key="order-1")
    assert given.body == {"type": "ticket.created", "data": {}, "idempotencyKey": "order-1"}
    with pytest.raises(TypeError, match="data must be a mapping"):
        ops.publish_event("ticket.created", [1])  # type: ignore[arg-type]


def test_recover_wants_an_aware_time() -> None:
    since = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert ops.recover_webhook("whk_1", since=since).body == {"since": "2026-01-02T03:04:05+00:00"}
    assert ops.recover_webhook("whk_1", since="2026-01-02T00:00:00Z").body == {
        "since": "2026-01-02T00:00:00Z"
    }
    with pytest.raises(ValueError, match="timezone-aware"):
        ops.recover_webhook("whk_1", since=datetime(2026, 1, 2))


def test_the_catalog_is_outside_the_team() -> None:
    op = ops.event_catalog(category="tickets")
    assert (op.team_scoped, op.path, op.query) == (False, "events", {"category": "tickets"})


def test_not_retry_safe_are_the_posts_that_do_something_each_time() -> None:
    unsafe: list[ops.Operation[Any]] = [
        ops.create_webhook(url="u", events="*"),
        ops.test_webhook("w", "ticket.created"),
        ops.trigger_test("ticket.created"),
        ops.rotate_secret("w"),
        ops.recover_webhook("w", since="2026-01-01T00:00:00Z"),
        ops.resend_delivery("d"),
        ops.create_key(),
    ]
    assert all(op.method == "POST" and not op.retry_safe for op in unsafe)
    safe: list[ops.Operation[Any]] = [
        ops.get_webhook("w"),
        ops.delete_webhook("w"),
        ops.revoke_key("k"),
    ]
    assert all(op.retry_safe for op in safe)


def test_both_clients_methods_have_the_builders_signature_and_docs() -> None:
    method = resources.AsyncWebhooks(client=None).update  # type: ignore[arg-type]
    expected = inspect.signature(ops.update_webhook).parameters
    assert inspect.signature(method).parameters == expected
    assert resources.Webhooks.update.__doc__ == ops.update_webhook.__doc__
    sync_names = {n for n in vars(resources.Webhooks) if not n.startswith("_")}
    async_names = {n for n in vars(resources.AsyncWebhooks) if not n.startswith("_")}
    assert sync_names == async_names


def test_results_parse_times_as_aware_datetimes_and_keep_the_raw_json() -> None:
    raw = {**WEBHOOK_JSON, "someNewField": 42}
    webhook = Webhook.from_json(raw)
    assert webhook.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert webhook.updated_at is None
    assert webhook.to_dict()["someNewField"] == 42
    assert webhook.secret is None


def test_a_webhook_reads_its_delivery_controls_and_an_older_servers_answer_too() -> None:
    older = Webhook.from_json(WEBHOOK_JSON)
    assert (
        older.signature_scheme,
        dict(older.headers),
        older.rate_limit,
        older.ordering,
        older.timeout_seconds,
    ) == ("cstar", {}, None, "none", None)
    newer = Webhook.from_json(
        {
            **WEBHOOK_JSON,
            "signatureScheme": "standard-webhooks",
            "headers": {"X-Tenant": "acme"},
            "rateLimit": 25,
            "ordering": "fifo",
            "timeoutSeconds": 5,
        }
    )
    assert (
        newer.signature_scheme,
        dict(newer.headers),
        newer.rate_limit,
        newer.ordering,
        newer.timeout_seconds,
    ) == ("standard-webhooks", {"X-Tenant": "acme"}, 25, "fifo", 5)
    # A null from the server means its default, as a field left out does.
    nulls = {"signatureScheme": None, "headers": None, "ordering": None}
    assert Webhook.from_json({**WEBHOOK_JSON, **nulls}) == older
