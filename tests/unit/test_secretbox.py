"""Unit tests for ``cstar.server.security.secretbox``: master-key encryption and the key file."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from cstar.server.config import ConfigError
from cstar.server.security.secretbox import (
    CHECK_PLAINTEXT,
    SecretBox,
    SecretBoxError,
    load_or_create_key_file,
)

LOGGER = "cstar.server.security.secretbox"


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


# ---------------------------------------------------------------------------------------------
# SecretBox
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    ["whsec_" + "a" * 40, "", "x", "\u00e9t\u00e9 \u2603 \U0001f600", "line1\nline2", "a" * 10_000],
)
def test_encrypt_decrypt_round_trip(plaintext: str) -> None:
    box = SecretBox([new_key()])

    ciphertext = box.encrypt(plaintext)

    assert isinstance(ciphertext, str)
    assert box.decrypt(ciphertext) == plaintext


def test_ciphertext_differs_from_plaintext_and_between_encryptions() -> None:
    box = SecretBox([new_key()])
    plaintext = "whsec_" + "S3cr3t" * 6

    first = box.encrypt(plaintext)
    second = box.encrypt(plaintext)

    assert first != plaintext
    assert plaintext not in first
    assert first != second
    assert box.decrypt(first) == box.decrypt(second) == plaintext


def test_box_accepts_bytes_keys() -> None:
    key = Fernet.generate_key()
    box = SecretBox([key])

    assert SecretBox([key.decode()]).decrypt(box.encrypt("hello")) == "hello"


def test_decrypt_with_a_different_key_fails() -> None:
    token = SecretBox([new_key()]).encrypt("secret")

    with pytest.raises(SecretBoxError):
        SecretBox([new_key()]).decrypt(token)


@pytest.mark.parametrize("token", ["", "not a token", "gAAAAAB" + "A" * 80, "\u00e9t\u00e9"])
def test_decrypt_garbage_fails(token: str) -> None:
    with pytest.raises(SecretBoxError):
        SecretBox([new_key()]).decrypt(token)


def test_decrypt_tampered_ciphertext_fails() -> None:
    box = SecretBox([new_key()])
    token = box.encrypt("secret")
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]

    with pytest.raises(SecretBoxError):
        box.decrypt(tampered)


def test_rotation_old_data_decrypts_with_new_and_old_keys() -> None:
    old, new = new_key(), new_key()
    under_old = SecretBox([old]).encrypt("legacy secret")

    rotated = SecretBox([new, old])

    assert rotated.decrypt(under_old) == "legacy secret"


def test_rotation_encrypts_with_the_first_key() -> None:
    old, new = new_key(), new_key()
    rotated = SecretBox([new, old])

    token = rotated.encrypt("fresh secret")

    assert SecretBox([new]).decrypt(token) == "fresh secret"
    with pytest.raises(SecretBoxError):
        SecretBox([old]).decrypt(token)


def test_dropping_the_old_key_makes_old_data_undecryptable() -> None:
    old, new = new_key(), new_key()
    under_old = SecretBox([old]).encrypt("legacy secret")

    with pytest.raises(SecretBoxError):
        SecretBox([new]).decrypt(under_old)


@pytest.mark.parametrize(
    "keys",
    [
        ["not-a-key"],
        [""],
        ["A" * 43],
        ["A" * 44 + "A"],
        [Fernet.generate_key().decode()[:-4]],
        [Fernet.generate_key().decode(), "bad"],
    ],
)
def test_bad_key_raises_config_error(keys: list[str]) -> None:
    with pytest.raises(ConfigError) as excinfo:
        SecretBox(keys)

    assert "CSTAR_MASTER_KEY" in str(excinfo.value)
    assert "Fernet" in str(excinfo.value)


def test_no_keys_raises_config_error() -> None:
    with pytest.raises(ConfigError):
        SecretBox([])


def test_check_token_matches_its_own_box() -> None:
    box = SecretBox([new_key()])

    token = box.check_token()

    assert box.matches_check_token(token) is True
    assert token != box.check_token()
    assert box.decrypt(token) == CHECK_PLAINTEXT.decode()


def test_check_token_does_not_match_another_key() -> None:
    token = SecretBox([new_key()]).check_token()

    assert SecretBox([new_key()]).matches_check_token(token) is False


def test_check_token_survives_rotation() -> None:
    old, new = new_key(), new_key()
    token = SecretBox([old]).check_token()

    assert SecretBox([new, old]).matches_check_token(token) is True
    assert SecretBox([new]).matches_check_token(token) is False


def test_check_token_rejects_other_plaintexts() -> None:
    box = SecretBox([new_key()])

    assert box.matches_check_token(box.encrypt("something else")) is False
    assert box.matches_check_token(box.encrypt(CHECK_PLAINTEXT.decode() + "x")) is False


@pytest.mark.parametrize("token", ["", "garbage", "\u00e9t\u00e9"])
def test_check_token_rejects_garbage(token: str) -> None:
    assert SecretBox([new_key()]).matches_check_token(token) is False


# ---------------------------------------------------------------------------------------------
# load_or_create_key_file
# ---------------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_creates_key_file_with_mode_0600(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    path = tmp_path / "cstar-master.key"

    key = load_or_create_key_file(path)

    assert path.is_file()
    assert _mode(path) == 0o600
    assert path.read_text(encoding="ascii") == key + "\n"
    Fernet(key)  # a valid Fernet key
    assert SecretBox([key]).decrypt(SecretBox([key]).encrypt("ok")) == "ok"
    generated = [r for r in caplog.records if "generated a new master key" in r.getMessage()]
    assert len(generated) == 1
    assert generated[0].levelno == logging.WARNING
    assert str(path) in generated[0].getMessage()


def test_second_call_returns_the_same_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cstar-master.key"
    first = load_or_create_key_file(path)
    caplog.clear()
    caplog.set_level(logging.WARNING, logger=LOGGER)

    second = load_or_create_key_file(path)

    assert second == first
    assert path.read_text(encoding="ascii") == first + "\n"
    assert _mode(path) == 0o600
    assert caplog.records == []


def test_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "master.key"

    key = load_or_create_key_file(path)

    assert path.parent.is_dir()
    assert _mode(path) == 0o600
    assert load_or_create_key_file(path) == key


def test_keys_of_different_files_differ(tmp_path: Path) -> None:
    assert load_or_create_key_file(tmp_path / "one.key") != load_or_create_key_file(
        tmp_path / "two.key"
    )


def test_existing_file_is_read_and_stripped(tmp_path: Path) -> None:
    key = new_key()
    path = tmp_path / "master.key"
    path.write_text(f"\n  {key}  \n\n", encoding="ascii")
    path.chmod(0o600)

    assert load_or_create_key_file(path) == key
    assert path.read_text(encoding="ascii") == f"\n  {key}  \n\n"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666, 0o610])
def test_warns_when_key_file_is_readable_by_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    key = new_key()
    path = tmp_path / "master.key"
    path.write_text(key + "\n", encoding="ascii")
    path.chmod(mode)
    caplog.set_level(logging.WARNING, logger=LOGGER)

    assert load_or_create_key_file(path) == key

    warnings = [r for r in caplog.records if "readable by others" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert str(path) in warnings[0].getMessage()
    assert f"{mode:o}" in warnings[0].getMessage()


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_no_warning_when_key_file_is_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    key = new_key()
    path = tmp_path / "master.key"
    path.write_text(key + "\n", encoding="ascii")
    path.chmod(mode)
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    assert load_or_create_key_file(path) == key
    assert caplog.records == []


@pytest.mark.parametrize("content", ["", "\n", "   \n\t\n"])
def test_empty_key_file_raises_config_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "master.key"
    path.write_text(content, encoding="ascii")
    path.chmod(0o600)

    with pytest.raises(ConfigError) as excinfo:
        load_or_create_key_file(path)

    assert "empty" in str(excinfo.value)
    assert str(path) in str(excinfo.value)
    assert path.read_text(encoding="ascii") == content
