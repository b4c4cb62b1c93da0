"""``cstar login`` / ``logout``: checked against the server, stored in the keychain or a 0600
file, overridden by flags and variables."""

from __future__ import annotations

import json
import stat

from tests.cli.conftest import FILE_KEYRING, Cli, one_error_line


def test_login_without_a_keychain_stores_a_private_file(cli: Cli) -> None:
    result = cli("login", "--api-key", cli.key, "--base-url", cli.server.base_url)
    assert result.returncode == 0, result.stderr
    assert "No OS keychain is available" in result.stdout
    path = cli.config_dir / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())["profiles"]["default"]
    assert stored == {"base_url": cli.server.base_url, "team_id": cli.team_id, "api_key": cli.key}

    status = cli("status", "--json")  # no flags: the stored key and server
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["team"]["id"] == cli.team_id

    out = cli("logout")
    assert out.returncode == 0
    assert "Logged out" in out.stdout
    assert "profiles" in json.loads(path.read_text())
    assert json.loads(path.read_text())["profiles"] == {}
    after = cli("status")
    assert "Not logged in" in one_error_line(after)
    assert cli("logout").stdout.strip() == "Nothing to do: no key was stored."


def test_login_with_a_keychain_keeps_the_key_out_of_the_file(cli: Cli) -> None:
    cli.keyring_backend = FILE_KEYRING
    result = cli("login", "--api-key", cli.key, "--base-url", cli.server.base_url, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["storedIn"] == "keychain"
    config = (cli.config_dir / "config.json").read_text()
    assert cli.key not in config
    keychain_files = list((cli.home / "data").rglob("*.cfg"))
    assert keychain_files, "the keyring backend stored nothing"
    assert cli("status").returncode == 0
    assert cli("logout").returncode == 0
    assert cli.key not in "".join(p.read_text() for p in keychain_files)
    assert "Not logged in" in one_error_line(cli("status"))


def test_a_refused_key_is_not_stored(cli: Cli) -> None:
    result = cli("login", "--api-key", "sk_test_" + "x" * 32, "--base-url", cli.server.base_url)
    assert "refused (401)" in one_error_line(result)
    assert not (cli.config_dir / "config.json").exists()


def test_login_needs_a_key_when_nobody_can_type_one(cli: Cli) -> None:
    assert "--api-key" in one_error_line(cli("login", "--base-url", cli.server.base_url))


def test_flags_and_variables_override_the_stored_login(cli: Cli) -> None:
    assert cli("login", "--api-key", cli.key, "--base-url", cli.server.base_url).returncode == 0
    created = cli("keys", "create", "--name", "other", "--json")
    other_key = json.loads(created.stdout)["key"]

    by_flag = json.loads(cli("status", "--json", "--api-key", other_key).stdout)
    assert by_flag["key"]["prefix"] == other_key[: len(by_flag["key"]["prefix"])]
    assert by_flag["keySource"] == "--api-key"
    by_env = json.loads(cli("status", "--json", CSTAR_SECRET_KEY=other_key).stdout)
    assert by_env["keySource"] == "CSTAR_SECRET_KEY"
    stored = json.loads(cli("status", "--json").stdout)
    assert stored["keySource"] == "login"
    assert stored["key"]["id"] != by_flag["key"]["id"]

    nowhere = cli("status", "--base-url", "http://127.0.0.1:9")
    assert "Cannot reach the server at http://127.0.0.1:9" in one_error_line(nowhere)
    bad_url = cli("status", "--base-url", "ftp://example.com")
    assert "--base-url" in one_error_line(bad_url)


def test_a_broken_config_file_is_one_line_and_does_not_block_explicit_keys(cli: Cli) -> None:
    cli.config_dir.mkdir(parents=True)
    (cli.config_dir / "config.json").write_text("{not json")
    assert "cannot read" in one_error_line(cli("status"))
    flags = cli("status", "--json", "--api-key", cli.key, "--base-url", cli.server.base_url)
    assert flags.returncode == 0, flags.stderr
    by_env = cli("status", "--json", "--api-key", cli.key, CSTAR_BASE_URL=cli.server.base_url)
    assert by_env.returncode == 0, by_env.stderr
    key_only = cli("status", "--api-key", cli.key, "--base-url", "http://127.0.0.1:9")
    assert "Cannot reach" in one_error_line(key_only)  # the broken file was not in the way
