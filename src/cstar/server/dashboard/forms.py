"""What the dashboard's forms send, read into the services' terms, and the pickers they show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.datastructures import FormData

from cstar import events as catalog

#: Grace periods offered when rotating a secret: (seconds, label).
GRACE_PERIODS: tuple[tuple[int, str], ...] = (
    (0, "None: the old secret stops now"),
    (3600, "1 hour"),
    (86400, "24 hours"),
    (7 * 86400, "7 days"),
)


@dataclass(frozen=True, slots=True)
class EventGroup:
    """One category of the events picker: its event types and the wildcards of its resources."""

    slug: str
    name: str
    types: tuple[str, ...]
    wildcards: tuple[str, ...]


def event_groups() -> tuple[EventGroup, ...]:
    groups = []
    for category in catalog.CATEGORIES:
        types = tuple(t.name for t in catalog.event_types_in(category.slug))
        resources = dict.fromkeys(name.split(".", 1)[0] for name in types)
        groups.append(
            EventGroup(
                slug=category.slug,
                name=category.title,
                types=types,
                wildcards=tuple(f"{r}.*" for r in resources),
            )
        )
    return tuple(groups)


@dataclass(frozen=True, slots=True)
class WebhookFields:
    """What the create and edit forms hold (kept to show them again with an error)."""

    name: str
    url: str
    events: tuple[str, ...]

    @classmethod
    def read(cls, form: FormData) -> WebhookFields:
        return cls(text(form, "name"), text(form, "url"), tuple(chosen(form, "events")))


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def chosen(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def grace_period(form: FormData) -> timedelta:
    """The grace period chosen, one of ``GRACE_PERIODS`` (anything else: none)."""
    raw = text(form, "grace_period")
    allowed = {str(seconds): seconds for seconds, _ in GRACE_PERIODS}
    return timedelta(seconds=allowed.get(raw, 0))


def since(form: FormData) -> datetime | None:
    """A ``datetime-local`` value, read as UTC (the page says so), or ``None``."""
    raw = text(form, "since").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
