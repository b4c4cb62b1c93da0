"""Server settings, read once from the environment (and command-line overrides).

Every knob an operator can turn lives here, with its environment variable, so the rest of the
server receives a plain frozen value instead of reading ``os.environ`` itself.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "sqlite:///cstar.db"
MASTER_KEY_FILENAME = "cstar-master.key"


class ConfigError(Exception):
    """A setting has a value the server cannot run with; the message says which and why."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``limit`` requests per ``window_seconds`` for one API key."""

    limit: int
    window_seconds: int

    @classmethod
    def parse(cls, text: str, *, name: str) -> RateLimit:
        """Parse ``"1000/60s"``, ``"100/1m"`` or ``"5000/1h"``."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*([smh]?)\s*", text)
        if not match:
            raise ConfigError(f"{name} must look like 1000/60s (requests per window), got {text!r}")
        count, amount, unit = match.groups()
        seconds = int(amount or "1") * {"": 1, "s": 1, "m": 60, "h": 3600}[unit]
        if int(count) < 1 or seconds < 1:
            raise ConfigError(
                f"{name} needs at least 1 request per at least 1 second, got {text!r}"
            )
        return cls(limit=int(count), window_seconds=seconds)


#: A send starts only on a lease with at least the delivery timeout plus this much left, so no
#: lease can end while its request is in flight; a shorter lease could never be sent at all.
LEASE_MARGIN = 1.0

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

#: Delays between attempts: 15 attempts over about 3 days and 4 hours (see the README).
DEFAULT_RETRY_SCHEDULE = "5s,30s,2m,10m,30m,1h,2h,4h,8h,12h,12h,12h,12h,12h"


def parse_duration(text: str, *, name: str) -> float:
    """``"500ms"``, ``"10s"``, ``"2m"``, ``"1h"``, ``"3d"`` (or bare seconds) as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", text)
    if not match:
        raise ConfigError(
            f"{name} must be a duration such as 500ms, 10s, 2m, 1h or 3d, got {text!r}"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def parse_schedule(text: str, *, name: str) -> tuple[float, ...]:
    """A comma-separated list of durations: the delay before each retry."""
    parts = [p for p in (s.strip() for s in text.split(",")) if p]
    if not parts:
        raise ConfigError(f"{name} must list at least one duration, such as 1s,5s,30s")
    delays = tuple(parse_duration(p, name=name) for p in parts)
    if any(d <= 0 for d in delays):
        raise ConfigError(f"{name}: every delay must be positive, got {text!r}")
    return delays


def _duration(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    value = parse_duration(raw, name=name)
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}s, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _port(env: Mapping[str, str], name: str) -> int:
    value = _int(env, name, 0, minimum=1)
    if value > 65535:
        raise ConfigError(f"{name} must be a port from 1 to 65535, got {value}")
    return value


#: What a bearer token may hold (RFC 6750's b64token).
_B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
#: A metrics token shorter than this could be guessed.
MIN_METRICS_TOKEN = 16


def _metrics_token(env: Mapping[str, str]) -> str | None:
    token = env.get("CSTAR_METRICS_TOKEN", "").strip()
    if not token:
        return None
    if len(token) < MIN_METRICS_TOKEN or not _B64TOKEN.fullmatch(token):
        raise ConfigError(
            f"CSTAR_METRICS_TOKEN must be at least {MIN_METRICS_TOKEN} characters among letters, "
            "digits and -._~+/= (for example: python -c 'import secrets; "
            "print(secrets.token_urlsafe())')"
        )
    return token


def _egress_proxy(env: Mapping[str, str]) -> str | None:
    raw = env.get("CSTAR_EGRESS_PROXY", "").strip()
    if not raw:
        return None
    problem = None
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        parts, port, problem = None, None, "it is not a valid URL"
    if parts is not None:
        if parts.scheme not in ("http", "https"):
            problem = "its scheme must be http or https"
        elif not parts.hostname:
            problem = "it names no host"
        elif parts.path not in ("", "/") or parts.query or parts.fragment:
            problem = "it must be only scheme, host and port (and user:password)"
        elif port == 0:
            problem = "its port must be from 1 to 65535"
    if problem is not None:
        raise ConfigError(
            f"CSTAR_EGRESS_PROXY must look like http://proxy.internal:3128: {problem} "
            f"(got {redact_proxy(raw)!r})"
        )
    return raw


def redact_proxy(url: str) -> str:
    """``url`` without the password it may hold, for logs and the banner."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in userinfo else f"{scheme}{sep}{user}@{host}"


def parse_networks(text: str, *, name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or CIDR networks, each written out canonically."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(str(ipaddress.ip_network(part)))
        except ValueError:
            raise ConfigError(
                f"{name} must list IP addresses or networks such as 10.0.0.0/8, got {part!r}"
            ) from None
    return tuple(networks)


def _choice(
    env: Mapping[str, str],
    name: str,
    default: str,
    allowed: tuple[str, ...],
    *,
    lower: bool = False,
) -> str:
    raw = env.get(name, "").strip()
    raw = raw.lower() if lower else raw.upper()
    if not raw:
        return default
    if raw not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server is configured with."""

    database_url: str = DEFAULT_DATABASE_URL
    #: ``--dev``: http:// URLs and private or loopback delivery targets are allowed.
    dev: bool = False
    #: Fernet keys (url-safe base64), newest first; empty means "use the key file".
    master_keys: tuple[str, ...] = ()
    #: Where the generated master key lives when ``CSTAR_MASTER_KEY`` is not set.
    master_key_file: Path | None = None
    rate_limit: RateLimit = field(default_factory=lambda: RateLimit(1000, 60))
    #: Failed authentications tolerated per client address per window.
    auth_failure_limit: RateLimit = field(default_factory=lambda: RateLimit(100, 60))
    max_body_bytes: int = 256 * 1024
    #: Base of ``dashboard_url`` in ticket events (the helpdesk's ticket view).
    dashboard_base_url: str = "https://www.cstar.help"
    log_level: str = "INFO"
    #: Delays before each retry; attempts = len(retry_schedule) + 1.
    retry_schedule: tuple[float, ...] = field(
        default_factory=lambda: parse_schedule(DEFAULT_RETRY_SCHEDULE, name="default")
    )
    delivery_timeout: float = 10.0
    #: Requests in flight at once to one webhook endpoint.
    endpoint_concurrency: int = 32
    #: Requests one dispatcher process has in flight at once, all endpoints together (it holds
    #: up to four times as many claims: see ``dispatch/dispatcher.py``).
    dispatch_concurrency: int = 256
    #: How long a claim protects a delivery; a dead worker's claims are retaken after it.
    lease_seconds: float = 60.0
    #: How often an idle worker looks for due work when nothing wakes it (SQLite across
    #: processes; on PostgreSQL LISTEN/NOTIFY wakes workers and this is only the fallback).
    poll_interval: float | None = None
    #: A webhook that has only failed for this long is deactivated.
    disable_after: float = 5 * 86400.0
    #: Completed deliveries, their attempts and their events are deleted after this long.
    log_retention: float = 30 * 86400.0
    #: Bytes of each response body that are read and stored.
    max_response_bytes: int = 4096
    #: SQLite ``synchronous``: FULL survives power loss; NORMAL only process crashes.
    sqlite_synchronous: str = "FULL"
    #: Realtime streams: a comment line this often keeps proxies and clients from timing out.
    stream_heartbeat: float = 15.0
    #: Realtime streams: how far back a reconnecting client's ``Last-Event-ID`` is honoured.
    stream_replay: float = 86400.0
    #: Realtime streams: how often each process checks that its streams' keys and teams still
    #: exist (a revocation in this process ends its streams at once).
    stream_access_check: float = 2.0
    #: How long a process trusts an API key it has looked up (a revocation in this process
    #: takes effect at once, in others within this); 0 reads the database on every request.
    key_cache_ttl: float = 2.0
    #: Realtime streams open at once per API key and per team, in one process.
    streams_per_key: int = 10
    streams_per_team: int = 50
    #: A request's line and headers must arrive within this many seconds.
    header_timeout: float = 10.0
    #: A request's body must arrive within this many seconds of the server starting to read it.
    body_timeout: float = 30.0
    #: Open HTTP connections per process; beyond it a connection is answered 503.
    max_connections: int = 1000
    #: Proxies whose ``X-Forwarded-For``/``X-Forwarded-Proto`` are believed (addresses or
    #: networks); empty: forwarded headers are ignored.
    trusted_proxies: tuple[str, ...] = ()
    #: ``/metrics`` on the API's port answers requests carrying this bearer token; unset, it
    #: is not served there.
    metrics_token: str | None = None
    #: A port of its own for ``/metrics``, without a token (``cstar worker`` too); unset: none.
    metrics_port: int | None = None
    #: The address that port listens on.
    metrics_host: str = "127.0.0.1"
    #: ``text`` (one line per record) or ``json`` (one JSON object per record).
    log_format: str = "text"
    #: Every delivery leaves through this HTTP(S) proxy (``http://user:pass@host:3128``).
    egress_proxy: str | None = None
    #: Webhooks one team may have (each publish fans out to every subscribed one).
    max_webhooks_per_team: int = 100
    #: Active (unrevoked) API keys one team may hold.
    max_keys_per_team: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``CSTAR_*`` variables; keyword overrides (from the command line) win."""
        env = os.environ if env is None else env
        keys = tuple(k.strip() for k in env.get("CSTAR_MASTER_KEY", "").split(",") if k.strip())
        key_file = env.get("CSTAR_MASTER_KEY_FILE", "").strip()
        settings = cls(
            database_url=env.get("CSTAR_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
            dev=_bool(env, "CSTAR_DEV", False),
            master_keys=keys,
            master_key_file=Path(key_file) if key_file else None,
            rate_limit=RateLimit.parse(
                env.get("CSTAR_RATE_LIMIT", "").strip() or "1000/60s", name="CSTAR_RATE_LIMIT"
            ),
            auth_failure_limit=RateLimit.parse(
                env.get("CSTAR_AUTH_FAILURE_LIMIT", "").strip() or "100/60s",
                name="CSTAR_AUTH_FAILURE_LIMIT",
            ),
            max_body_bytes=_int(env, "CSTAR_MAX_BODY_BYTES", 256 * 1024, minimum=1024),
            dashboard_base_url=env.get("CSTAR_DASHBOARD_URL", "").strip()
            or "https://www.cstar.help",
            log_level=(env.get("CSTAR_LOG_LEVEL", "").strip() or "INFO").upper(),
            retry_schedule=parse_schedule(
                env.get("CSTAR_RETRY_SCHEDULE", "").strip() or DEFAULT_RETRY_SCHEDULE,
                name="CSTAR_RETRY_SCHEDULE",
            ),
            delivery_timeout=_duration(env, "CSTAR_DELIVERY_TIMEOUT", 10.0, minimum=0.1),
            endpoint_concurrency=_int(env, "CSTAR_ENDPOINT_CONCURRENCY", 32, minimum=1),
            dispatch_concurrency=_int(env, "CSTAR_DISPATCH_CONCURRENCY", 256, minimum=1),
            lease_seconds=_duration(env, "CSTAR_LEASE", 60.0, minimum=1.0),
            poll_interval=(
                _duration(env, "CSTAR_POLL_INTERVAL", 0.05, minimum=0.001)
                if env.get("CSTAR_POLL_INTERVAL", "").strip()
                else None
            ),
            disable_after=_duration(env, "CSTAR_DISABLE_AFTER", 5 * 86400.0, minimum=1.0),
            log_retention=_duration(env, "CSTAR_LOG_RETENTION", 30 * 86400.0, minimum=60.0),
            max_response_bytes=_int(env, "CSTAR_MAX_RESPONSE_BYTES", 4096, minimum=0),
            sqlite_synchronous=_choice(
                env, "CSTAR_SQLITE_SYNCHRONOUS", "FULL", ("FULL", "NORMAL", "EXTRA")
            ),
            stream_heartbeat=_duration(env, "CSTAR_STREAM_HEARTBEAT", 15.0, minimum=0.05),
            stream_replay=_duration(env, "CSTAR_STREAM_REPLAY", 86400.0, minimum=1.0),
            stream_access_check=_duration(env, "CSTAR_STREAM_ACCESS_CHECK", 2.0, minimum=0.05),
            key_cache_ttl=_duration(env, "CSTAR_KEY_CACHE_TTL", 2.0, minimum=0.0),
            streams_per_key=_int(env, "CSTAR_STREAMS_PER_KEY", 10, minimum=1),
            streams_per_team=_int(env, "CSTAR_STREAMS_PER_TEAM", 50, minimum=1),
            header_timeout=_duration(env, "CSTAR_HEADER_TIMEOUT", 10.0, minimum=0.05),
            body_timeout=_duration(env, "CSTAR_BODY_TIMEOUT", 30.0, minimum=0.05),
            max_connections=_int(env, "CSTAR_MAX_CONNECTIONS", 1000, minimum=1),
            trusted_proxies=parse_networks(
                env.get("CSTAR_TRUSTED_PROXIES", ""), name="CSTAR_TRUSTED_PROXIES"
            ),
            metrics_token=_metrics_token(env),
            metrics_port=(
                _port(env, "CSTAR_METRICS_PORT")
                if env.get("CSTAR_METRICS_PORT", "").strip()
                else None
            ),
            metrics_host=env.get("CSTAR_METRICS_HOST", "").strip() or "127.0.0.1",
            log_format=_choice(env, "CSTAR_LOG_FORMAT", "text", ("text", "json"), lower=True),
            egress_proxy=_egress_proxy(env),
            max_webhooks_per_team=_int(env, "CSTAR_MAX_WEBHOOKS_PER_TEAM", 100, minimum=1),
            max_keys_per_team=_int(env, "CSTAR_MAX_KEYS_PER_TEAM", 100, minimum=1),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        settings = replace(settings, **clean) if clean else settings
        settings.check()
        return settings

    def check(self) -> None:
        """Settings that are valid alone but not together."""
        if self.lease_seconds < self.delivery_timeout + LEASE_MARGIN:
            raise ConfigError(
                f"CSTAR_LEASE ({self.lease_seconds:g}s) must be at least CSTAR_DELIVERY_TIMEOUT "
                f"({self.delivery_timeout:g}s) plus {LEASE_MARGIN:g}s: a claim must outlast the "
                "request it is claimed for"
            )

    def effective_poll_interval(self) -> float:
        """Idle polling: 50 ms on SQLite (no cross-process wake-up), 1 s on PostgreSQL (where
        LISTEN/NOTIFY wakes workers and polling is only a fallback)."""
        if self.poll_interval is not None:
            return self.poll_interval
        return 0.05 if sqlite_path(self.database_url) is not None else 1.0

    def resolved_master_key_file(self) -> Path:
        """The key file: explicit, else beside the SQLite file, else the working directory."""
        if self.master_key_file is not None:
            return self.master_key_file
        path = sqlite_path(self.database_url)
        if path is not None and path != ":memory:":
            return Path(path).resolve().parent / MASTER_KEY_FILENAME
        return Path.cwd() / MASTER_KEY_FILENAME


def sqlite_path(database_url: str) -> str | None:
    """The file path of a ``sqlite:///...`` URL, ``None`` for other databases."""
    for prefix in ("sqlite+aiosqlite://", "sqlite://"):
        if database_url.startswith(prefix):
            rest = database_url[len(prefix) :]
            rest = rest.split("?", 1)[0]
            if rest in ("", "/", "/:memory:"):
                return ":memory:"
            return rest[1:] if rest.startswith("/") else rest
    return None
