"""Encryption at rest for signing secrets, under an operator-held master key.

The master key is a Fernet key (AES-128-CBC with HMAC-SHA256, from ``cryptography``). Operators
set ``CSTAR_MASTER_KEY`` (several keys, comma-separated and newest first, allow rotation: data is
encrypted with the first and decrypted with any), or let the server generate a key file on first
start, readable by its owner only.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from cstar.server.config import ConfigError

log = logging.getLogger(__name__)

#: Encrypted under the master key and kept in the database, so that starting with a different key
#: fails loudly instead of producing secrets nobody can decrypt.
CHECK_PLAINTEXT = b"cstar-master-key-check-v1"


class SecretBoxError(Exception):
    """A ciphertext could not be decrypted with any configured master key."""


#: A Fernet key as ``Fernet.generate_key()`` writes it: 32 bytes, url-safe base64, padded.
#: cryptography 51 also accepts the unpadded form; one spelling keeps keys comparable and the
#: error for a truncated key the same whatever the library's version.
_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")


def _canonical(key: str | bytes) -> str | bytes:
    text = key.decode("ascii", "replace") if isinstance(key, bytes) else key
    if not _KEY.fullmatch(text):
        raise ValueError("not a padded url-safe base64 Fernet key")
    return key


class SecretBox:
    """Encrypts and decrypts short secrets with the master key(s)."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ConfigError("at least one master key is required")
        try:
            self._fernet = MultiFernet([Fernet(_canonical(k)) for k in keys])
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "CSTAR_MASTER_KEY must be a Fernet key: 32 bytes in url-safe base64 "
                "(generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretBoxError(
                "ciphertext does not decrypt with the configured master key"
            ) from exc

    def check_token(self) -> str:
        return self._fernet.encrypt(CHECK_PLAINTEXT).decode("ascii")

    def matches_check_token(self, token: str) -> bool:
        try:
            return self._fernet.decrypt(token.encode("ascii")) == CHECK_PLAINTEXT
        except (InvalidToken, UnicodeError):
            return False


def load_or_create_key_file(path: Path) -> str:
    """Read the key file, or create it (mode 0600, atomically) when it does not exist yet."""
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # Write the whole key to a private temporary file, then link it into place: the link either
    # creates the complete file or fails because another process won the race (use theirs).
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read_key_file(path)
    finally:
        temporary.unlink(missing_ok=True)
    log.warning(
        "generated a new master key at %s (mode 0600); back it up: without it the signing "
        "secrets in the database cannot be decrypted",
        path,
    )
    return key.decode("ascii")


def _read_key_file(path: Path) -> str:
    text = path.read_text(encoding="ascii").strip()
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("master key file %s is readable by others (mode %o); chmod 600 it", path, mode)
    if not text:
        raise ConfigError(f"master key file {path} is empty")
    return text
