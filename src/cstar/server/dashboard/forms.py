"""What the dashboard's forms send, read into the services' terms, and the pickers they show."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.datastructures import FormData

from cstar import events as catalog
from cstar.server.domain.errors import InvalidParameter
from cstar.server.domain.models import Webhook
from cstar.server.services.webhooks import UNSET, WebhookDraft, WebhookUpdate

#: Grace periods offered when rotating a secret: (seconds, label).
GRACE_PERIODS: tuple[tuple[int, str], ...] = (
    (0, "None: the old secret stops now"),
    (3600, "1 hour"),
    (86400, "24 hours"),
    (7 * 86400, "7 days"),
)


#: Signature schemes offered: (value, label).
SIGNATURE_SCHEMES: tuple[tuple[str, str], ...] = (
    ("cstar", "cStar: the X-Signature header"),
    ("standard-webhooks", "Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature"),
)
#: Delivery orderings offered: (value, label).
ORDERINGS: tuple[tuple[str, str], ...] = (
    ("none", "None: deliveries run in parallel"),
    ("fifo", "FIFO: one at a time, in the order events were published"),
)
#: What the settings page shows instead of a custom header's value.
MASK = "••••"
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,9}")
#: A number field's name, the words its error uses, and what leaving it empty means.
_NUMBER_FIELDS = {
    "rateLimit": ("The rate limit", "deliveries per second", "no limit"),
    "timeoutSeconds": ("The timeout", "seconds", "the server's default"),
}


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
    """What the create and edit forms hold, as typed (kept to show them again with an error).

    The delivery controls are the fields' text; ``None`` means the post did not carry the field
    (a page from before they existed), which leaves the setting as it is, or at its default.
    """

    name: str
    url: str
    events: tuple[str, ...]
    signature_scheme: str | None = "cstar"
    #: The custom headers textarea: one ``Name: value`` per line.
    headers: str | None = ""
    rate_limit: str | None = ""
    ordering: str | None = "none"
    timeout_seconds: str | None = ""

    @classmethod
    def read(cls, form: FormData) -> WebhookFields:
        return cls(
            text(form, "name"),
            text(form, "url"),
            tuple(chosen(form, "events")),
            signature_scheme=posted(form, "signatureScheme"),
            headers=posted(form, "headers"),
            rate_limit=posted(form, "rateLimit"),
            ordering=posted(form, "ordering"),
            timeout_seconds=posted(form, "timeoutSeconds"),
        )

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookFields:
        """The edit form filled in with the webhook as it is, header values included: the
        owner edits them there."""
        return cls(
            webhook.name,
            webhook.url,
            webhook.events,
            signature_scheme=webhook.signature_scheme,
            headers=header_lines(webhook.headers),
            rate_limit=_number_text(webhook.rate_limit),
            ordering=webhook.ordering,
            timeout_seconds=_number_text(webhook.timeout_seconds),
        )

    def draft(self) -> WebhookDraft:
        """The create form as the service takes it. Raises ``InvalidParameter`` for what only
        a form can get wrong (a header line without a colon, a number that is not one); the
        service checks everything else and raises the same way."""
        return WebhookDraft(
            name=self.name,
            url=self.url,
            events=self.events,
            signature_scheme="cstar" if self.signature_scheme is None else self.signature_scheme,
            headers=parse_headers(self.headers or ""),
            rate_limit=whole_number(self.rate_limit, "rateLimit"),
            ordering="none" if self.ordering is None else self.ordering,
            timeout_seconds=whole_number(self.timeout_seconds, "timeoutSeconds"),
        )

    def update(self) -> WebhookUpdate:
        """The edit form as the service takes it: every field it carried, so an empty headers
        box removes the headers and an empty number clears the limit (see ``draft``)."""
        return WebhookUpdate(
            name=self.name,
            url=self.url,
            events=self.events,
            signature_scheme=self.signature_scheme,
            headers=None if self.headers is None else parse_headers(self.headers),
            rate_limit=(
                UNSET if self.rate_limit is None else whole_number(self.rate_limit, "rateLimit")
            ),
            ordering=self.ordering,
            timeout_seconds=(
                UNSET
                if self.timeout_seconds is None
                else whole_number(self.timeout_seconds, "timeoutSeconds")
            ),
        )


def parse_headers(lines: str) -> dict[str, str]:
    """The custom headers textarea: one ``Name: value`` per line (the value may hold colons),
    blank lines ignored. The service checks names and values; only what a dict cannot show
    it is refused here: a line without a colon, and a name given twice."""
    headers: dict[str, str] = {}
    seen: set[str] = set()
    for number, line in enumerate(lines.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise InvalidParameter(
                "headers", f"Line {number} has no colon: write each header as Name: value"
            )
        name = name.strip()
        if name.lower() in seen:
            raise InvalidParameter("headers", f"{name} is given twice (line {number})")
        seen.add(name.lower())
        headers[name] = value.strip()
    return headers


def header_lines(headers: Mapping[str, str]) -> str:
    """Headers as the textarea shows them (the inverse of ``parse_headers``)."""
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def whole_number(raw: str | None, param: str) -> int | None:
    """A number field: empty (or not posted) is ``None``, which means no limit or the server's
    default; a whole number is the service's to check against its range."""
    if raw is None or not raw.strip():
        return None
    if not _WHOLE_NUMBER.fullmatch(raw.strip()):
        subject, unit, empty = _NUMBER_FIELDS[param]
        raise InvalidParameter(
            param, f"{subject} must be a whole number of {unit}, or empty for {empty}"
        )
    return int(raw.strip())


def _number_text(value: int | None) -> str:
    return "" if value is None else str(value)


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def posted(form: FormData, name: str) -> str | None:
    """A field's text, or ``None`` when the form did not carry it at all."""
    value = form.get(name)
    if value is None:
        return None
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
