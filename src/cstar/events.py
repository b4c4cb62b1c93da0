"""The cStar event catalog: every webhook event type, its category and a sample payload.

Event types are named ``resource.action`` (``ticket.created``, ``player.level_up``). Endpoints
subscribe with patterns: an exact event name, ``<resource>.*`` for every action of one resource,
or ``*`` for everything.

This module is imported by the SDK, the CLI and the server, so it uses the standard library only
and does no work at import time beyond building constant tuples and dicts.
"""

from __future__ import annotations

import copy
import difflib
import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
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


@dataclass(frozen=True, slots=True)
class EventCategory:
    """A group of related event types, as shown in the dashboard's subscription picker."""

    slug: str
    title: str


@dataclass(frozen=True, slots=True)
class EventType:
    """One webhook event type, named ``resource.action``."""

    name: str
    category: str
    description: str

    @property
    def resource(self) -> str:
        """The part of the name before the dot: ``"ticket"`` for ``ticket.created``."""
        return self.name.partition(".")[0]

    @property
    def action(self) -> str:
        """The part of the name after the dot: ``"created"`` for ``ticket.created``."""
        return self.name.partition(".")[2]


WILDCARD_ALL: str = "*"
"""The subscription pattern that matches every event type."""

_RESOURCE_WILDCARD_SUFFIX = ".*"

CATEGORIES: tuple[EventCategory, ...] = (
    EventCategory("tickets", "Tickets"),
    EventCategory("customers", "Customers"),
    EventCategory("articles", "Articles"),
    EventCategory("team", "Team"),
    EventCategory("gamification", "Gamification"),
    EventCategory("community", "Community"),
    EventCategory("surveys", "Surveys"),
)

EVENT_TYPES: tuple[EventType, ...] = (
    # Tickets
    EventType(
        "ticket.created",
        "tickets",
        "Fired when a new ticket is opened, whether by a customer or by an agent on their behalf.",
    ),
    EventType(
        "ticket.updated",
        "tickets",
        "Fired when a ticket's fields change, such as its status, priority, title or tags.",
    ),
    EventType(
        "ticket.closed",
        "tickets",
        "Fired when a ticket is resolved and moved to the closed status.",
    ),
    EventType(
        "ticket.message_added",
        "tickets",
        "Fired when an agent or the customer posts a new message on a ticket's conversation.",
    ),
    EventType(
        "ticket.deleted",
        "tickets",
        "Fired when a ticket is permanently removed from the helpdesk.",
    ),
    EventType(
        "ticket.assigned",
        "tickets",
        "Fired when a ticket is given to an agent or moved from one agent to another.",
    ),
    # Customers
    EventType(
        "customer.created",
        "customers",
        "Fired when a new customer record is added, manually or by their first ticket.",
    ),
    EventType(
        "customer.updated",
        "customers",
        "Fired when a customer's profile details, such as their name or email, are edited.",
    ),
    EventType(
        "customer.deleted",
        "customers",
        "Fired when a customer record is removed from the helpdesk.",
    ),
    EventType(
        "customer_group.created",
        "customers",
        "Fired when a new customer group is set up to segment customers.",
    ),
    EventType(
        "customer_group.updated",
        "customers",
        "Fired when a customer group's name, description or membership rules change.",
    ),
    EventType(
        "customer_group.deleted",
        "customers",
        "Fired when a customer group is removed; its customers remain untouched.",
    ),
    # Articles
    EventType(
        "article.created",
        "articles",
        "Fired when a new knowledge-base article is drafted in the Library.",
    ),
    EventType(
        "article.published",
        "articles",
        "Fired when an article becomes publicly visible in the Library.",
    ),
    EventType(
        "article.updated",
        "articles",
        "Fired when an existing article's title, content or metadata is edited.",
    ),
    EventType(
        "article.deleted",
        "articles",
        "Fired when an article is removed from the Library.",
    ),
    # Team
    EventType(
        "team.preferences_updated",
        "team",
        "Fired when a team-wide setting, such as business hours or gamification, is changed.",
    ),
    EventType(
        "agent.preferences_updated",
        "team",
        "Fired when an agent changes their personal preferences, such as theme or notifications.",
    ),
    # Gamification
    EventType(
        "boss.spawned",
        "gamification",
        "Fired when a new boss appears for the team to defeat by resolving tickets.",
    ),
    EventType(
        "boss.damaged",
        "gamification",
        "Fired when an agent's work, such as closing a ticket, deals damage to the active boss.",
    ),
    EventType(
        "boss.defeated",
        "gamification",
        "Fired when the active boss's hit points reach zero and the team wins the battle.",
    ),
    EventType(
        "player.level_up",
        "gamification",
        "Fired when an agent earns enough experience points to reach a new level.",
    ),
    EventType(
        "player.achievement_unlocked",
        "gamification",
        "Fired when an agent meets the requirements of an achievement for the first time.",
    ),
    EventType(
        "player.xp_gained",
        "gamification",
        "Fired when an agent is awarded experience points for an action.",
    ),
    EventType(
        "player.quest_completed",
        "gamification",
        "Fired when an agent finishes every objective of a daily or weekly quest.",
    ),
    EventType(
        "player.streak_milestone",
        "gamification",
        "Fired when an agent's activity streak reaches a milestone length.",
    ),
    EventType(
        "social.one_up_sent",
        "gamification",
        "Fired when an agent sends a teammate a one-up to recognise a job well done.",
    ),
    EventType(
        "social.high_five_sent",
        "gamification",
        "Fired when an agent gives a teammate a high five.",
    ),
    # Community
    EventType(
        "community_post.created",
        "community",
        "Fired when a new post, such as a feature request or question, is added to the forum.",
    ),
    EventType(
        "community_post.updated",
        "community",
        "Fired when a community post's title, body or category is edited.",
    ),
    EventType(
        "community_post.status_changed",
        "community",
        "Fired when the team moves a community post to a new status, such as planned or shipped.",
    ),
    EventType(
        "community_post.commented",
        "community",
        "Fired when someone adds a comment to a community post.",
    ),
    EventType(
        "community_post.deleted",
        "community",
        "Fired when a community post is removed from the forum.",
    ),
    EventType(
        "community_post.voted",
        "community",
        "Fired when a customer or agent casts a vote on a community post.",
    ),
    # Surveys
    EventType(
        "survey.submitted",
        "surveys",
        "Fired when a customer answers a satisfaction survey sent after a ticket was resolved.",
    ),
)


# ---------------------------------------------------------------------------------------------
# Catalog lookups
# ---------------------------------------------------------------------------------------------


@functools.cache
def _by_name() -> dict[str, EventType]:
    return {event_type.name: event_type for event_type in EVENT_TYPES}


@functools.cache
def _resources() -> tuple[str, ...]:
    return tuple(dict.fromkeys(event_type.resource for event_type in EVENT_TYPES))


@functools.cache
def _resource_set() -> frozenset[str]:
    return frozenset(_resources())


def get_event_type(name: str) -> EventType | None:
    """Return the catalog entry for ``name``, or ``None`` if it is not a known event type."""
    return _by_name().get(name)


def is_known_event(name: str) -> bool:
    """Whether ``name`` is an event type in the catalog (exact, case-sensitive)."""
    return name in _by_name()


def event_types_in(category: str | None = None) -> tuple[EventType, ...]:
    """The event types of one category, in catalog order.

    ``None`` returns the whole catalog; an unknown category slug returns an empty tuple.
    """
    if category is None:
        return EVENT_TYPES
    return tuple(event_type for event_type in EVENT_TYPES if event_type.category == category)


def category_slugs() -> tuple[str, ...]:
    """The category slugs, in display order."""
    return tuple(category.slug for category in CATEGORIES)


def resources() -> tuple[str, ...]:
    """The distinct resources (the part before the dot), in catalog order."""
    return _resources()


# ---------------------------------------------------------------------------------------------
# Subscription patterns
# ---------------------------------------------------------------------------------------------


def _split_event_name(name: str) -> tuple[str, str] | None:
    """Split ``resource.action`` into its two non-empty parts, or return ``None``."""
    resource, dot, action = name.partition(".")
    if not dot or not resource or not action or "." in action:
        return None
    return resource, action


def is_valid_pattern(pattern: str) -> bool:
    """Whether ``pattern`` is an acceptable subscription pattern.

    Accepted: an exact known event name, ``<known resource>.*``, and ``*``. Everything else,
    including unknown names, other wildcard positions, surrounding whitespace and different
    letter case, is rejected.
    """
    if pattern == WILDCARD_ALL:
        return True
    if pattern.endswith(_RESOURCE_WILDCARD_SUFFIX):
        resource = pattern[: -len(_RESOURCE_WILDCARD_SUFFIX)]
        return resource in _resource_set()
    return is_known_event(pattern)


def pattern_matches(pattern: str, event_type: str) -> bool:
    """Whether a subscription ``pattern`` selects ``event_type``.

    ``*`` matches every event; ``ticket.*`` matches every ``ticket.<action>`` event (but not
    ``ticket_x.created`` nor a bare ``ticket``); any other pattern must equal the event name.
    This works on names alone, so it also answers for event types outside the catalog.
    """
    if pattern == WILDCARD_ALL:
        return True
    if pattern.endswith(_RESOURCE_WILDCARD_SUFFIX):
        resource = pattern[: -len(_RESOURCE_WILDCARD_SUFFIX)]
        parts = _split_event_name(event_type)
        return bool(resource) and parts is not None and parts[0] == resource
    return bool(pattern) and pattern == event_type


def patterns_matching(event_type: str) -> tuple[str, str, str]:
    """The three subscription patterns that select ``event_type``.

    Returns ``(event_type, "<resource>.*", "*")``, so the server can find every subscriber with
    one indexed ``pattern IN (...)`` query. Raises ``ValueError`` if ``event_type`` is not of
    the form ``resource.action``.
    """
    parts = _split_event_name(event_type)
    if parts is None:
        msg = f"event type must look like 'resource.action', got {event_type!r}"
        raise ValueError(msg)
    return event_type, parts[0] + _RESOURCE_WILDCARD_SUFFIX, WILDCARD_ALL


# ---------------------------------------------------------------------------------------------
# Sample payloads
# ---------------------------------------------------------------------------------------------

_TEAM_ID = "3c9e1f52-7a84-4d06-b2e8-5f1a9c3d7e40"
_TICKET_ID = "5f0c8a2e-3b7d-4c1a-9e62-8d4b1f7a2c90"
_CUSTOMER_ID = "b3e91d47-6a20-4f8c-a5d3-2c7e0b9f1846"
_PRIYA_ID = "0d6f2a9c-8e14-4b73-b1c5-7a3e9d2f6048"
_MARCUS_ID = "e2a47c1b-5d98-4f36-8c0e-91b6d3a7f25c"
_LENA_ID = "6b8d0e3f-2c57-4a19-9d4e-a7f1c5b3e862"
_GROUP_ID = "41c7e8b2-9f03-4a5d-b6e1-3d8a2c7f9054"
_ARTICLE_ID = "7e3b9d15-4c82-4f60-a1d7-5b2e8c9f0a36"
_BOSS_ID = "c8d25f6a-1e9b-4b37-9a40-d6f3e7b2c581"
_POST_ID = "f14a6c93-7d2e-4b85-8e0a-2c9b5d1f7e63"

_CUSTOMER_REF: dict[str, Any] = {
    "id": _CUSTOMER_ID,
    "name": "Dana Whitfield",
    "email": "dana.whitfield@example.com",
}

_PRIYA_REF: dict[str, Any] = {"id": _PRIYA_ID, "name": "Priya Raman"}
_MARCUS_REF: dict[str, Any] = {"id": _MARCUS_ID, "name": "Marcus Chen"}
_LENA_REF: dict[str, Any] = {"id": _LENA_ID, "name": "Lena Okafor"}

_TICKET: dict[str, Any] = {
    "id": _TICKET_ID,
    "number": 1042,
    "title": "CSV export times out for large date ranges",
    "status": "open",
    "priority": "high",
    "channel": "email",
    "tags": ["export", "reporting"],
    "customer_id": _CUSTOMER_ID,
    "customer_name": "Dana Whitfield",
    "assigned_to": None,
    "created_at": "2026-03-06T09:12:44Z",
    "updated_at": "2026-03-06T09:12:44Z",
    "dashboard_url": "",
}

_CUSTOMER: dict[str, Any] = {
    **_CUSTOMER_REF,
    "phone": "+1-555-0142",
    "company": "Northwind Outfitters",
    "tags": ["vip"],
    "created_at": "2025-11-18T16:02:09Z",
    "updated_at": "2025-11-18T16:02:09Z",
}

_CUSTOMER_GROUP: dict[str, Any] = {
    "id": _GROUP_ID,
    "name": "Enterprise accounts",
    "description": "Customers on an annual enterprise plan.",
    "member_count": 14,
    "created_at": "2026-02-02T11:30:00Z",
    "updated_at": "2026-02-02T11:30:00Z",
}

_ARTICLE: dict[str, Any] = {
    "id": _ARTICLE_ID,
    "title": "Exporting tickets to CSV",
    "slug": "exporting-tickets-to-csv",
    "status": "draft",
    "category": "Reporting",
    "tags": ["export", "csv"],
    "author": _MARCUS_REF,
    "created_at": "2026-03-04T13:45:10Z",
    "updated_at": "2026-03-04T13:45:10Z",
    "published_at": None,
}

_TEAM: dict[str, Any] = {"id": _TEAM_ID, "name": "My Team", "slug": "my-team"}

_BOSS: dict[str, Any] = {
    "id": _BOSS_ID,
    "name": "The Backlog Hydra",
    "level": 3,
    "max_hp": 5000,
    "current_hp": 5000,
    "status": "active",
    "spawned_at": "2026-03-02T08:00:00Z",
}

_PLAYER: dict[str, Any] = {
    "id": _PRIYA_ID,
    "name": "Priya Raman",
    "level": 12,
    "xp": 15240,
    "xp_to_next_level": 1760,
}

_POST: dict[str, Any] = {
    "id": _POST_ID,
    "title": "Dark mode for the customer portal",
    "body": "The portal is very bright at night. A dark theme would help a lot.",
    "category": "feature_request",
    "status": "under_review",
    "vote_count": 23,
    "comment_count": 4,
    "author": {"id": _CUSTOMER_ID, "name": "Dana Whitfield", "type": "customer"},
    "created_at": "2026-02-20T19:08:31Z",
    "updated_at": "2026-02-20T19:08:31Z",
}

_SAMPLES: dict[str, dict[str, Any]] = {
    # Tickets
    "ticket.created": {"ticket": _TICKET, "customer": _CUSTOMER_REF},
    "ticket.updated": {
        "ticket": {
            **_TICKET,
            "status": "pending",
            "priority": "urgent",
            "updated_at": "2026-03-06T09:47:05Z",
        },
        "customer": _CUSTOMER_REF,
        "changes": {
            "status": {"from": "open", "to": "pending"},
            "priority": {"from": "high", "to": "urgent"},
        },
        "updated_by": _PRIYA_REF,
    },
    "ticket.closed": {
        "ticket": {
            **_TICKET,
            "status": "closed",
            "assigned_to": _PRIYA_ID,
            "updated_at": "2026-03-06T14:19:58Z",
            "closed_at": "2026-03-06T14:19:58Z",
        },
        "closed_by": _PRIYA_REF,
        "resolution_time_seconds": 18434,
    },
    "ticket.message_added": {
        "ticket": {**_TICKET, "updated_at": "2026-03-06T10:21:33Z"},
        "message": {
            "id": "9a1e3f7c-2b64-4d80-b5a9-6c3d8e0f4127",
            "body": "It still fails when I pick the whole of last year. Any workaround?",
            "author_type": "customer",
            "author_id": _CUSTOMER_ID,
            "author_name": "Dana Whitfield",
            "is_internal": False,
            "created_at": "2026-03-06T10:21:33Z",
        },
    },
    "ticket.deleted": {
        "ticket": {
            **_TICKET,
            "status": "closed",
            "deleted_at": "2026-03-06T15:02:11Z",
        },
        "deleted_by": _MARCUS_REF,
    },
    "ticket.assigned": {
        "ticket": {
            **_TICKET,
            "assigned_to": _PRIYA_ID,
            "updated_at": "2026-03-06T09:15:02Z",
        },
        "assignee": {**_PRIYA_REF, "email": "priya.raman@example.com"},
        "previous_assignee": None,
        "assigned_by": _MARCUS_REF,
        "assigned_at": "2026-03-06T09:15:02Z",
    },
    # Customers
    "customer.created": {"customer": _CUSTOMER},
    "customer.updated": {
        "customer": {
            **_CUSTOMER,
            "email": "dana@northwind.example.com",
            "updated_at": "2026-03-05T12:40:27Z",
        },
        "changes": {
            "email": {"from": "dana.whitfield@example.com", "to": "dana@northwind.example.com"},
        },
    },
    "customer.deleted": {
        "customer": {**_CUSTOMER_REF, "deleted_at": "2026-03-06T16:11:45Z"},
        "deleted_by": _MARCUS_REF,
    },
    "customer_group.created": {"customer_group": _CUSTOMER_GROUP},
    "customer_group.updated": {
        "customer_group": {
            **_CUSTOMER_GROUP,
            "name": "Enterprise and strategic accounts",
            "updated_at": "2026-03-03T10:05:51Z",
        },
        "changes": {
            "name": {"from": "Enterprise accounts", "to": "Enterprise and strategic accounts"},
        },
    },
    "customer_group.deleted": {
        "customer_group": {
            "id": _GROUP_ID,
            "name": "Enterprise accounts",
            "deleted_at": "2026-03-06T17:20:00Z",
        },
        "deleted_by": _MARCUS_REF,
    },
    # Articles
    "article.created": {"article": _ARTICLE},
    "article.published": {
        "article": {
            **_ARTICLE,
            "status": "published",
            "updated_at": "2026-03-05T08:30:00Z",
            "published_at": "2026-03-05T08:30:00Z",
        },
    },
    "article.updated": {
        "article": {
            **_ARTICLE,
            "status": "published",
            "title": "Exporting tickets and reports to CSV",
            "updated_at": "2026-03-06T11:02:18Z",
            "published_at": "2026-03-05T08:30:00Z",
        },
        "changes": {
            "title": {
                "from": "Exporting tickets to CSV",
                "to": "Exporting tickets and reports to CSV",
            },
        },
    },
    "article.deleted": {
        "article": {
            "id": _ARTICLE_ID,
            "title": "Exporting tickets to CSV",
            "slug": "exporting-tickets-to-csv",
            "deleted_at": "2026-03-06T18:44:09Z",
        },
        "deleted_by": _MARCUS_REF,
    },
    # Team
    "team.preferences_updated": {
        "team": _TEAM,
        "preferences": {
            "timezone": "Europe/Berlin",
            "gamification_enabled": True,
            "boss_battles_enabled": True,
            "auto_close_after_days": 14,
        },
        "changes": {"auto_close_after_days": {"from": 7, "to": 14}},
        "updated_by": _MARCUS_REF,
        "updated_at": "2026-03-06T07:58:40Z",
    },
    "agent.preferences_updated": {
        "agent": {**_PRIYA_REF, "email": "priya.raman@example.com", "role": "agent"},
        "preferences": {
            "theme": "dark",
            "email_digest": "daily",
            "notification_sound": False,
            "show_xp_popups": True,
        },
        "changes": {"theme": {"from": "light", "to": "dark"}},
        "updated_at": "2026-03-06T08:03:12Z",
    },
    # Gamification
    "boss.spawned": {"boss": _BOSS},
    "boss.damaged": {
        "boss": {**_BOSS, "current_hp": 3180},
        "damage": 120,
        "dealt_by": _PRIYA_REF,
        "source": {"type": "ticket_closed", "ticket_id": _TICKET_ID},
        "occurred_at": "2026-03-06T14:19:59Z",
    },
    "boss.defeated": {
        "boss": {
            **_BOSS,
            "current_hp": 0,
            "status": "defeated",
            "defeated_at": "2026-03-06T16:37:25Z",
        },
        "defeated_by": [
            {**_PRIYA_REF, "damage_dealt": 2140},
            {**_MARCUS_REF, "damage_dealt": 1655},
            {**_LENA_REF, "damage_dealt": 1205},
        ],
        "final_blow_by": _LENA_REF,
        "xp_reward": 250,
    },
    "player.level_up": {
        "player": _PLAYER,
        "previous_level": 11,
        "new_level": 12,
        "occurred_at": "2026-03-06T14:19:59Z",
    },
    "player.achievement_unlocked": {
        "player": _PLAYER,
        "achievement": {
            "id": "speed_demon",
            "name": "Speed Demon",
            "description": "Resolve 10 tickets in under an hour each.",
            "rarity": "rare",
            "xp_reward": 150,
        },
        "unlocked_at": "2026-03-06T14:20:00Z",
    },
    "player.xp_gained": {
        "player": _PLAYER,
        "amount": 45,
        "reason": "ticket_closed",
        "source": {"type": "ticket", "id": _TICKET_ID},
        "occurred_at": "2026-03-06T14:19:59Z",
    },
    "player.quest_completed": {
        "player": _PLAYER,
        "quest": {
            "id": "a5f2c8e1-0b7d-4e93-86c4-1d9e3b7a5f02",
            "name": "Inbox Zero Hero",
            "description": "Close 8 tickets before the end of the day.",
            "period": "daily",
            "xp_reward": 100,
        },
        "completed_at": "2026-03-06T15:48:30Z",
    },
    "player.streak_milestone": {
        "player": _PLAYER,
        "streak": {"kind": "daily_activity", "days": 30, "started_on": "2026-02-05"},
        "milestone": 30,
        "xp_reward": 300,
        "occurred_at": "2026-03-06T09:00:12Z",
    },
    "social.one_up_sent": {
        "one_up": {
            "id": "2d7b4f90-e1c3-4a68-9b25-8f0e6c3a1d47",
            "message": "Great save on the export timeout ticket!",
            "ticket_id": _TICKET_ID,
            "created_at": "2026-03-06T14:25:41Z",
        },
        "sender": _MARCUS_REF,
        "recipient": _PRIYA_REF,
    },
    "social.high_five_sent": {
        "high_five": {
            "id": "8e3a6d21-4f9b-4c07-a5e8-0b2d7f1c9e64",
            "message": "Thanks for covering my queue this morning.",
            "created_at": "2026-03-06T12:03:57Z",
        },
        "sender": _LENA_REF,
        "recipient": _PRIYA_REF,
    },
    # Community
    "community_post.created": {"post": _POST},
    "community_post.updated": {
        "post": {
            **_POST,
            "title": "Dark mode for the customer portal and emails",
            "updated_at": "2026-02-21T07:14:02Z",
        },
        "changes": {
            "title": {
                "from": "Dark mode for the customer portal",
                "to": "Dark mode for the customer portal and emails",
            },
        },
    },
    "community_post.status_changed": {
        "post": {**_POST, "status": "planned", "updated_at": "2026-03-06T10:30:00Z"},
        "changes": {"status": {"from": "under_review", "to": "planned"}},
        "changed_by": _MARCUS_REF,
    },
    "community_post.commented": {
        "post": {**_POST, "comment_count": 5},
        "comment": {
            "id": "c0e5a7b3-9d41-4f26-8a1c-6e2b4d8f0a95",
            "body": "This is on our roadmap for the next quarter.",
            "author": {**_MARCUS_REF, "type": "agent"},
            "is_official": True,
            "created_at": "2026-03-06T10:31:47Z",
        },
    },
    "community_post.deleted": {
        "post": {
            "id": _POST_ID,
            "title": "Dark mode for the customer portal",
            "deleted_at": "2026-03-06T19:05:33Z",
        },
        "deleted_by": _MARCUS_REF,
    },
    "community_post.voted": {
        "post": {**_POST, "vote_count": 24},
        "vote": {
            "value": 1,
            "voter": {"id": _LENA_ID, "name": "Lena Okafor", "type": "agent"},
            "created_at": "2026-03-06T11:12:09Z",
        },
    },
    # Surveys
    "survey.submitted": {
        "survey": {
            "id": "4b9f1c6e-8a23-4d75-b0e9-3f7c2a5d8e16",
            "type": "csat",
            "rating": 5,
            "scale_max": 5,
            "comment": "Quick and friendly, thank you!",
            "agent_id": _PRIYA_ID,
            "submitted_at": "2026-03-06T18:02:26Z",
        },
        "customer": _CUSTOMER_REF,
        "ticket": {
            "id": _TICKET_ID,
            "title": "CSV export times out for large date ranges",
            "status": "closed",
            "dashboard_url": "",
        },
    },
}

# The "primary" timestamps of each sample: the fields that describe when the event happened.
# ``sample_data(..., now=...)`` overwrites exactly these; each entry is a path of dict keys.
_NOW_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "ticket.created": (("ticket", "created_at"), ("ticket", "updated_at")),
    "ticket.updated": (("ticket", "updated_at"),),
    "ticket.closed": (("ticket", "updated_at"), ("ticket", "closed_at")),
    "ticket.message_added": (("ticket", "updated_at"), ("message", "created_at")),
    "ticket.deleted": (("ticket", "deleted_at"),),
    "ticket.assigned": (("ticket", "updated_at"), ("assigned_at",)),
    "customer.created": (("customer", "created_at"), ("customer", "updated_at")),
    "customer.updated": (("customer", "updated_at"),),
    "customer.deleted": (("customer", "deleted_at"),),
    "customer_group.created": (
        ("customer_group", "created_at"),
        ("customer_group", "updated_at"),
    ),
    "customer_group.updated": (("customer_group", "updated_at"),),
    "customer_group.deleted": (("customer_group", "deleted_at"),),
    "article.created": (("article", "created_at"), ("article", "updated_at")),
    "article.published": (("article", "updated_at"), ("article", "published_at")),
    "article.updated": (("article", "updated_at"),),
    "article.deleted": (("article", "deleted_at"),),
    "team.preferences_updated": (("updated_at",),),
    "agent.preferences_updated": (("updated_at",),),
    "boss.spawned": (("boss", "spawned_at"),),
    "boss.damaged": (("occurred_at",),),
    "boss.defeated": (("boss", "defeated_at"),),
    "player.level_up": (("occurred_at",),),
    "player.achievement_unlocked": (("unlocked_at",),),
    "player.xp_gained": (("occurred_at",),),
    "player.quest_completed": (("completed_at",),),
    "player.streak_milestone": (("occurred_at",),),
    "social.one_up_sent": (("one_up", "created_at"),),
    "social.high_five_sent": (("high_five", "created_at"),),
    "community_post.created": (("post", "created_at"), ("post", "updated_at")),
    "community_post.updated": (("post", "updated_at"),),
    "community_post.status_changed": (("post", "updated_at"),),
    "community_post.commented": (("comment", "created_at"),),
    "community_post.deleted": (("post", "deleted_at"),),
    "community_post.voted": (("vote", "created_at"),),
    "survey.submitted": (("survey", "submitted_at"),),
}


def _format_timestamp(moment: datetime) -> str:
    """Format a tz-aware datetime as ISO-8601 UTC with a ``Z`` suffix, to the second."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = "now must be a timezone-aware datetime"
        raise ValueError(msg)
    utc = moment.astimezone(UTC).replace(microsecond=0, tzinfo=None)
    return utc.isoformat() + "Z"


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _unknown_event_message(name: str) -> str:
    message = f"unknown event type {name!r}"
    suggestions = difflib.get_close_matches(name, list(_SAMPLES), n=3)
    if suggestions:
        message += f"; did you mean {', '.join(repr(s) for s in suggestions)}?"
    return message + " (see cstar.events.EVENT_TYPES for the full catalog)"


def sample_data(
    name: str,
    *,
    team_slug: str = "my-team",
    dashboard_base_url: str = "https://www.cstar.help",
    now: datetime | None = None,
) -> dict[str, Any]:
    """A realistic example ``data`` payload for the event type ``name``.

    The result is a fresh deep copy: mutating it never affects later calls. A ticket in the
    payload gets its ``dashboard_url`` built as
    ``{dashboard_base_url}/team/{team_slug}/tickets?selected={ticket_id}`` (a trailing ``/`` on
    the base URL is dropped), and a team in the payload gets ``team_slug`` as its slug.

    If ``now`` is given (it must be timezone-aware, else ``ValueError``), the sample's primary
    timestamps are set to it, formatted as ISO-8601 UTC with a ``Z`` suffix to the second;
    otherwise fixed example timestamps are used.

    Raises ``KeyError`` for an unknown event type.
    """
    try:
        template = _SAMPLES[name]
    except KeyError:
        raise KeyError(_unknown_event_message(name)) from None
    data = copy.deepcopy(template)

    ticket = data.get("ticket")
    if isinstance(ticket, dict) and "dashboard_url" in ticket:
        base = dashboard_base_url.rstrip("/")
        ticket["dashboard_url"] = f"{base}/team/{team_slug}/tickets?selected={ticket['id']}"

    team = data.get("team")
    if isinstance(team, dict) and "slug" in team:
        team["slug"] = team_slug

    if now is not None:
        stamp = _format_timestamp(now)
        for path in _NOW_FIELDS.get(name, ()):
            _set_path(data, path, stamp)
    return data
