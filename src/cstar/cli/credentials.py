"""Where ``cstar login`` keeps the API key: the OS keychain (``keyring``), or, where no keychain
exists (a headless Linux box), a file only its owner can read.

What is stored per profile: the API key, the base URL it belongs to, and the team id the server
reported for it. The key goes to the keychain when there is one; the rest is not secret and
always lives in the config file (``$CSTAR_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/cstar``, else
``~/.config/cstar``).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEYRING_SERVICE = "cstar-webhooks"
CONFIG_NAME = "config.json"


@dataclass(frozen=True, slots=True)
class Stored:
    api_key: str
    base_url: str
    team_id: str | None
    #: ``"keychain"`` or the path of the file holding the key.
    where: str


def config_dir(env: dict[str, str] | None = None) -> Path:
    environ = os.environ if env is None else env
    explicit = environ.get("CSTAR_CONFIG_DIR", "").strip()
    if explicit:
        return Path(explicit)
    xdg = environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".config") / "cstar"


def _keychain() -> Any | None:
    """The keyring module when a usable backend exists, else ``None``."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:  # pragma: no cover - keyring is a dependency
        return None
    try:
        backend = keyring.get_keyring()
        usable = not isinstance(backend, fail.Keyring) and float(backend.priority) > 0
    except Exception:
        return None
    return keyring if usable else None


class CredentialStore:
    def __init__(self, directory: Path | None = None, *, profile: str = "default") -> None:
        self.directory = directory or config_dir()
        self.profile = profile

    @property
    def path(self) -> Path:
        return self.directory / CONFIG_NAME

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CredentialError(f"cannot read {self.path}: {exc}") from exc
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def save(self, *, api_key: str, base_url: str, team_id: str | None) -> Stored:
        """Store the key (keychain first) and where it belongs; returns where it went."""
        data = self._read()
        profiles = data.setdefault("profiles", {})
        entry: dict[str, Any] = {"base_url": base_url, "team_id": team_id}
        keychain = _keychain()
        where = "keychain"
        if keychain is not None:
            try:
                keychain.set_password(KEYRING_SERVICE, self.profile, api_key)
            except Exception:
                keychain = None
        if keychain is None:
            entry["api_key"] = api_key
            where = str(self.path)
        profiles[self.profile] = entry
        self._write(data)
        return Stored(api_key, base_url, team_id, where)

    def load(self) -> Stored | None:
        entry = self._read().get("profiles", {}).get(self.profile)
        if not isinstance(entry, dict):
            return None
        key = entry.get("api_key")
        where = str(self.path)
        if not key:
            keychain = _keychain()
            if keychain is not None:
                with contextlib.suppress(Exception):
                    key = keychain.get_password(KEYRING_SERVICE, self.profile)
                where = "keychain"
        if not key:
            return None
        return Stored(str(key), str(entry.get("base_url") or ""), entry.get("team_id"), where)

    def remember_team(self, team_id: str) -> None:
        data = self._read()
        entry = data.get("profiles", {}).get(self.profile)
        if isinstance(entry, dict) and entry.get("team_id") != team_id:
            entry["team_id"] = team_id
            self._write(data)

    def delete(self) -> bool:
        """Forget the profile; ``True`` if anything was stored."""
        data = self._read()
        found = data.get("profiles", {}).pop(self.profile, None) is not None
        keychain = _keychain()
        if keychain is not None:
            with contextlib.suppress(Exception):
                if keychain.get_password(KEYRING_SERVICE, self.profile) is not None:
                    keychain.delete_password(KEYRING_SERVICE, self.profile)
                    found = True
        if found:
            self._write(data)
        return found


class CredentialError(Exception):
    pass
