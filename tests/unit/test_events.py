"""Unit tests for the event catalog in ``cstar.events``."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from cstar import events
from cstar.events import (
    CATEGORIES,
    EVENT_TYPES,
    WILDCARD_ALL,
    EventCategory,
    EventType,
    category_slugs,
    event_types_in,
    get_event_type,
    is_known_event,
    is_valid_pattern,
    pattern_matches,
    patterns_matching,
    resources,
    sample_data,
)

EXPECTED_CATALOG: dict[str, tuple[str, tuple[str, ...]]] = {
    "tickets": (
        "Tickets",
        (
            "ticket.created",
            "ticket.updated",
            "ticket.closed",
            "ticket.message_added",
            "ticket.deleted",
            "ticket.assigned",
        ),
    ),
    "customers": (
        "Customers",
        (
            "customer.created",
            "customer.updated",
            "customer.deleted",
            "customer_group.created",
            "customer_group.updated",
            "customer_group.deleted",
        ),
    ),
    "articles": (
        "Articles",
        ("article.created", "article.published", "article.updated", "article.deleted"),
    ),
    "team": ("Team", ("team.preferences_updated", "agent.preferences_updated")),
    "gamification": (
        "Gamification",
        (
            "boss.spawned",
            "boss.damaged",
            "boss.defeated",
            "player.level_up",
            "player.achievement_unlocked",
            "player.xp_gained",
            "player.quest_completed",
            "player.streak_milestone",
            "social.one_up_sent",
            "social.high_five_sent",
        ),
    ),
    "community": (
        "Community",
        (
            "community_post.created",
            "community_post.updated",
            "community_post.status_changed",
            "community_post.commented",
            "community_post.deleted",
            "community_post.voted",
        ),
    ),
    "surveys": ("Surveys", ("survey.submitted",)),
}

ALL_NAMES: tuple[str, ...] = tuple(
    name for _title, names in EXPECTED_CATALOG.values() for name in names
)
TICKET_NAMES: tuple[str, ...] = EXPECTED_CATALOG["tickets"][1]

NAME_RE = re.compile(r"^[a-z_]+\.[a-z_]+$")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

# A moment that appears in none of the fixed samples.
FIXED_NOW = datetime(2031, 7, 9, 4, 5, 6, tzinfo=UTC)
FIXED_NOW_TEXT = "2031-07-09T04:05:06Z"


def _walk(value: Any, path: str = "data") -> Iterator[tuple[str, Any, Any]]:
    """Yield ``(path, key, value)`` for every dict entry at every depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key, item
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _strings(value: Any) -> list[str]:
    """Every string value (not key) anywhere in ``value``."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


# ---------------------------------------------------------------------------------------------
# The catalog
# ---------------------------------------------------------------------------------------------


def test_counts() -> None:
    assert len(EVENT_TYPES) == 35
    assert len(CATEGORIES) == 7


def test_categories_exact_and_ordered() -> None:
    assert [(c.slug, c.title) for c in CATEGORIES] == [
        (slug, title) for slug, (title, _names) in EXPECTED_CATALOG.items()
    ]
    assert category_slugs() == tuple(EXPECTED_CATALOG)


def test_event_names_exact_and_grouped_in_order() -> None:
    assert tuple(e.name for e in EVENT_TYPES) == ALL_NAMES
    for slug, (_title, names) in EXPECTED_CATALOG.items():
        assert tuple(e.name for e in EVENT_TYPES if e.category == slug) == names


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda e: e.name)
def test_event_type_is_well_formed(event_type: EventType) -> None:
    assert NAME_RE.fullmatch(event_type.name)
    assert event_type.category in category_slugs()
    assert event_type.description.strip()
    assert event_type.description.startswith("Fired when ")
    assert event_type.description.endswith(".")
    assert f"{event_type.resource}.{event_type.action}" == event_type.name


def test_no_duplicates() -> None:
    names = [e.name for e in EVENT_TYPES]
    assert len(set(names)) == len(names)
    slugs = [c.slug for c in CATEGORIES]
    assert len(set(slugs)) == len(slugs)
    descriptions = [e.description for e in EVENT_TYPES]
    assert len(set(descriptions)) == len(descriptions)


def test_every_category_has_events() -> None:
    for slug in category_slugs():
        assert event_types_in(slug)


def test_resource_and_action() -> None:
    event_type = get_event_type("player.achievement_unlocked")
    assert event_type is not None
    assert event_type.resource == "player"
    assert event_type.action == "achievement_unlocked"
    group = get_event_type("customer_group.deleted")
    assert group is not None
    assert (group.resource, group.action) == ("customer_group", "deleted")


def test_dataclasses_are_frozen() -> None:
    event_type = EVENT_TYPES[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event_type.name = "ticket.renamed"  # type: ignore[misc]
    category = CATEGORIES[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        category.slug = "other"  # type: ignore[misc]
    assert EventCategory("tickets", "Tickets") == CATEGORIES[0]


def test_get_event_type_and_is_known_event() -> None:
    event_type = get_event_type("ticket.created")
    assert event_type is not None
    assert event_type == EventType("ticket.created", "tickets", event_type.description)
    assert event_type.category == "tickets"
    for name in ALL_NAMES:
        assert is_known_event(name)
        found = get_event_type(name)
        assert found is not None
        assert found.name == name
    for name in ("ticket.exploded", "TICKET.CREATED", "ticket.*", "*", "", " ticket.created"):
        assert get_event_type(name) is None
        assert not is_known_event(name)


def test_event_types_in() -> None:
    assert tuple(e.name for e in event_types_in("articles")) == EXPECTED_CATALOG["articles"][1]
    assert tuple(e.name for e in event_types_in("surveys")) == ("survey.submitted",)
    assert event_types_in(None) == EVENT_TYPES
    assert event_types_in() == EVENT_TYPES
    assert event_types_in("no-such-category") == ()
    assert event_types_in("Tickets") == ()
    assert all(e.category == "gamification" for e in event_types_in("gamification"))


def test_resources() -> None:
    assert resources() == (
        "ticket",
        "customer",
        "customer_group",
        "article",
        "team",
        "agent",
        "boss",
        "player",
        "social",
        "community_post",
        "survey",
    )


def test_all_is_complete() -> None:
    for name in events.__all__:
        assert hasattr(events, name)
    assert sorted(events.__all__) == sorted(
        [
            "CATEGORIES",
            "EVENT_TYPES",
            "WILDCARD_ALL",
            "EventCategory",
            "EventType",
            "category_slugs",
            "event_types_in",
            "get_event_type",
            "is_known_event",
            "is_valid_pattern",
            "pattern_matches",
            "patterns_matching",
            "resources",
            "sample_data",
        ]
    )


# ---------------------------------------------------------------------------------------------
# Patterns
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "*",
        "ticket.created",
        "ticket.message_added",
        "customer_group.deleted",
        "survey.submitted",
        "ticket.*",
        "customer.*",
        "customer_group.*",
        "community_post.*",
        "social.*",
        "survey.*",
    ],
)
def test_valid_patterns(pattern: str) -> None:
    assert WILDCARD_ALL == "*"
    assert is_valid_pattern(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        " ",
        "ticket.*.x",
        "*.created",
        "ticket.",
        "ticket",
        ".created",
        ".*",
        "**",
        "*.*",
        " ticket.created",
        "ticket.created ",
        "unknown.*",
        "tickets.*",
        "ticket.exploded",
        "TICKET.CREATED",
        "Ticket.*",
        "ticket.created.extra",
        "ticket*",
        "ticket.cre*",
    ],
)
def test_invalid_patterns(pattern: str) -> None:
    assert not is_valid_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("*", "ticket.created", True),
        ("*", "survey.submitted", True),
        ("*", "anything.at_all", True),
        ("ticket.*", "ticket.created", True),
        ("ticket.*", "ticket.message_added", True),
        ("ticket.*", "ticket_x.created", False),
        ("ticket.*", "ticket", False),
        ("ticket.*", "ticket.", False),
        ("ticket.*", "customer.created", False),
        ("ticket.*", "xticket.created", False),
        ("customer.*", "customer.created", True),
        ("customer.*", "customer_group.created", False),
        ("customer_group.*", "customer_group.updated", True),
        ("customer_group.*", "customer.updated", False),
        ("ticket.created", "ticket.created", True),
        ("ticket.created", "ticket.updated", False),
        ("ticket.created", "ticket.created_x", False),
        ("ticket.created", "TICKET.CREATED", False),
        ("", "", False),
        (".*", ".created", False),
    ],
)
def test_pattern_matches(pattern: str, event_type: str, expected: bool) -> None:
    assert pattern_matches(pattern, event_type) is expected


def test_pattern_matches_agrees_with_patterns_matching() -> None:
    valid_patterns = ["*", *ALL_NAMES, *(f"{r}.*" for r in resources())]
    for name in ALL_NAMES:
        matching = {p for p in valid_patterns if pattern_matches(p, name)}
        assert matching == set(patterns_matching(name))


def test_patterns_matching() -> None:
    assert patterns_matching("ticket.created") == ("ticket.created", "ticket.*", "*")
    assert patterns_matching("customer_group.updated") == (
        "customer_group.updated",
        "customer_group.*",
        "*",
    )
    # Works for names outside the catalog too, and every result is a matching pattern.
    result = patterns_matching("ticket_x.created")
    assert result == ("ticket_x.created", "ticket_x.*", "*")
    assert all(pattern_matches(p, "ticket_x.created") for p in result)


def test_patterns_matching_of_catalog_events_are_valid_patterns() -> None:
    for name in ALL_NAMES:
        assert all(is_valid_pattern(p) for p in patterns_matching(name))


@pytest.mark.parametrize("event_type", ["", "ticket", "ticket.", ".created", "a.b.c"])
def test_patterns_matching_rejects_malformed_names(event_type: str) -> None:
    with pytest.raises(ValueError, match=r"resource\.action"):
        patterns_matching(event_type)


# ---------------------------------------------------------------------------------------------
# Sample payloads
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_NAMES)
def test_sample_is_json_serialisable_and_small(name: str) -> None:
    data = sample_data(name)
    assert isinstance(data, dict)
    assert data
    encoded = json.dumps(data)
    assert len(encoded.encode()) < 1024
    assert json.loads(encoded) == data


@pytest.mark.parametrize("name", ALL_NAMES)
def test_sample_keys_are_snake_case(name: str) -> None:
    for path, key, _value in _walk(sample_data(name)):
        assert isinstance(key, str)
        assert KEY_RE.fullmatch(key), f"{name}: key {key!r} at {path} is not snake_case"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_sample_timestamps_are_iso_utc(name: str) -> None:
    found = 0
    for path, key, value in _walk(sample_data(name)):
        if key.endswith("_at") and value is not None:
            assert isinstance(value, str)
            assert TIMESTAMP_RE.fullmatch(value), f"{name}: {path}.{key} = {value!r}"
            found += 1
    assert found, f"{name}: sample has no timestamp"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_sample_is_deterministic(name: str) -> None:
    assert sample_data(name) == sample_data(name)


@pytest.mark.parametrize("name", TICKET_NAMES)
def test_ticket_samples_have_required_fields(name: str) -> None:
    ticket = sample_data(name)["ticket"]
    for field in (
        "id",
        "title",
        "status",
        "priority",
        "customer_id",
        "customer_name",
        "created_at",
        "dashboard_url",
    ):
        assert field in ticket, f"{name}: ticket lacks {field}"


def test_ticket_specific_shapes() -> None:
    for name in ("ticket.created", "ticket.updated"):
        customer = sample_data(name)["customer"]
        assert set(customer) >= {"id", "name", "email"}

    changes = sample_data("ticket.updated")["changes"]
    assert changes
    for change in changes.values():
        assert set(change) == {"from", "to"}
        assert change["from"] != change["to"]

    message = sample_data("ticket.message_added")["message"]
    assert set(message) >= {"id", "body", "author_type", "author_name", "created_at"}
    assert message["author_type"] in {"agent", "customer"}

    assigned = sample_data("ticket.assigned")
    assert assigned["assignee"]["id"] == assigned["ticket"]["assigned_to"]
    assert sample_data("ticket.closed")["ticket"]["status"] == "closed"


def test_gamification_shapes() -> None:
    boss = sample_data("boss.spawned")["boss"]
    assert boss["current_hp"] == boss["max_hp"] > 0

    damaged = sample_data("boss.damaged")
    assert damaged["damage"] > 0
    assert 0 < damaged["boss"]["current_hp"] < damaged["boss"]["max_hp"]

    defeated = sample_data("boss.defeated")
    assert defeated["boss"]["current_hp"] == 0
    assert defeated["defeated_by"]
    assert sum(p["damage_dealt"] for p in defeated["defeated_by"]) == defeated["boss"]["max_hp"]

    for name in EXPECTED_CATALOG["gamification"][1]:
        if name.startswith("player."):
            player = sample_data(name)["player"]
            assert set(player) >= {"id", "name", "level", "xp"}
    level_up = sample_data("player.level_up")
    assert level_up["new_level"] == level_up["previous_level"] + 1 == level_up["player"]["level"]


def test_changes_objects_have_from_and_to() -> None:
    for name in ALL_NAMES:
        changes = sample_data(name).get("changes")
        if changes is None:
            continue
        for change in changes.values():
            assert set(change) == {"from", "to"}, name


@pytest.mark.parametrize("name", TICKET_NAMES)
def test_dashboard_url_defaults(name: str) -> None:
    ticket = sample_data(name)["ticket"]
    assert ticket["dashboard_url"] == (
        f"https://www.cstar.help/team/my-team/tickets?selected={ticket['id']}"
    )


@pytest.mark.parametrize("name", TICKET_NAMES)
@pytest.mark.parametrize(
    "base_url",
    ["https://help.example.org", "https://help.example.org/", "https://help.example.org//"],
)
def test_dashboard_url_from_arguments(name: str, base_url: str) -> None:
    ticket = sample_data(name, team_slug="acme-support", dashboard_base_url=base_url)["ticket"]
    assert ticket["dashboard_url"] == (
        f"https://help.example.org/team/acme-support/tickets?selected={ticket['id']}"
    )


def test_dashboard_url_with_path_prefix() -> None:
    ticket = sample_data(
        "ticket.created", team_slug="t1", dashboard_base_url="http://localhost:8000/cstar/"
    )["ticket"]
    assert ticket["dashboard_url"] == (
        f"http://localhost:8000/cstar/team/t1/tickets?selected={ticket['id']}"
    )


def test_no_hard_coded_host_outside_arguments() -> None:
    for name in ALL_NAMES:
        data = sample_data(name, dashboard_base_url="https://x.invalid")
        assert not any("cstar.help" in s for s in _strings(data)), name


def test_team_sample_uses_team_slug() -> None:
    assert sample_data("team.preferences_updated", team_slug="acme")["team"]["slug"] == "acme"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_now_sets_primary_timestamps(name: str) -> None:
    assert FIXED_NOW_TEXT not in _strings(sample_data(name))
    data = sample_data(name, now=FIXED_NOW)
    assert FIXED_NOW_TEXT in _strings(data)
    # Only timestamp fields change; everything else is the fixed sample.
    for path, key, value in _walk(data):
        if value == FIXED_NOW_TEXT:
            assert key.endswith("_at"), f"{name}: {path}.{key}"


def test_now_specific_fields() -> None:
    created = sample_data("ticket.created", now=FIXED_NOW)["ticket"]
    assert created["created_at"] == FIXED_NOW_TEXT
    assert created["updated_at"] == FIXED_NOW_TEXT

    updated = sample_data("ticket.updated", now=FIXED_NOW)
    assert updated["ticket"]["updated_at"] == FIXED_NOW_TEXT
    assert updated["ticket"]["created_at"] != FIXED_NOW_TEXT

    message = sample_data("ticket.message_added", now=FIXED_NOW)["message"]
    assert message["created_at"] == FIXED_NOW_TEXT

    assert sample_data("boss.damaged", now=FIXED_NOW)["occurred_at"] == FIXED_NOW_TEXT
    assert sample_data("survey.submitted", now=FIXED_NOW)["survey"]["submitted_at"] == (
        FIXED_NOW_TEXT
    )


def test_now_is_converted_to_utc_and_truncated_to_seconds() -> None:
    offset = timezone(timedelta(hours=2))
    now = datetime(2026, 3, 6, 16, 30, 0, 987654, tzinfo=offset)
    ticket = sample_data("ticket.created", now=now)["ticket"]
    assert ticket["created_at"] == "2026-03-06T14:30:00Z"


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sample_data("ticket.created", now=datetime(2026, 3, 6, 14, 30))


def test_without_now_timestamps_are_fixed() -> None:
    first = sample_data("ticket.created")["ticket"]["created_at"]
    assert first == sample_data("ticket.created")["ticket"]["created_at"]
    assert TIMESTAMP_RE.fullmatch(first)


def test_sample_data_returns_independent_copies() -> None:
    first = sample_data("ticket.updated")
    first["ticket"]["title"] = "mutated"
    first["ticket"]["tags"].append("mutated")
    first["changes"]["status"]["to"] = "mutated"
    first["customer"]["name"] = "mutated"
    first["new_key"] = True

    second = sample_data("ticket.updated")
    assert second["ticket"]["title"] != "mutated"
    assert "mutated" not in second["ticket"]["tags"]
    assert second["changes"]["status"]["to"] != "mutated"
    assert second["customer"]["name"] != "mutated"
    assert "new_key" not in second

    # Shared building blocks must not leak between different events either.
    assert sample_data("ticket.created")["customer"]["name"] != "mutated"
    assert "mutated" not in sample_data("ticket.closed")["ticket"]["tags"]


def test_sample_data_with_arguments_does_not_leak_into_defaults() -> None:
    sample_data("ticket.created", team_slug="other", now=FIXED_NOW)
    data = sample_data("ticket.created")
    assert "/team/my-team/" in data["ticket"]["dashboard_url"]
    assert data["ticket"]["created_at"] != FIXED_NOW_TEXT


@pytest.mark.parametrize("name", ["ticket.exploded", "", "*", "ticket.*", "TICKET.CREATED"])
def test_sample_data_unknown_event(name: str) -> None:
    with pytest.raises(KeyError, match="unknown event type"):
        sample_data(name)


def test_sample_data_unknown_event_suggests_close_match() -> None:
    with pytest.raises(KeyError, match=r"did you mean 'ticket\.created'"):
        sample_data("ticket.craeted")
