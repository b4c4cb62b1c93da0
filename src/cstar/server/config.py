"""Server settings, read once from the environment (and command-line overrides).

Every knob an operator can turn lives here, with its environment variable, so the rest of the
server receives a plain frozen value instead of reading ``os.environ`` itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **clean) if clean else settings

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
