"""Unit tests for ``cstar.server.config``: rate-limit parsing, settings from the environment and
where the master key file lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from cstar.server.config import (
    DEFAULT_DATABASE_URL,
    MASTER_KEY_FILENAME,
    ConfigError,
    RateLimit,
    Settings,
    sqlite_path,
)

# ---------------------------------------------------------------------------------------------
# RateLimit.parse
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "window"),
    [
        ("1000/60s", 1000, 60),
        ("100/1m", 100, 60),
        ("5000/1h", 5000, 3600),
        ("10/s", 10, 1),
        ("3/m", 3, 60),
        ("7/h", 7, 3600),
        ("20/2m", 20, 120),
        ("1/1s", 1, 1),
        ("1000/60", 1000, 60),
        ("  1000 / 60 s  ", 1000, 60),
        ("25/90m", 25, 5400),
    ],
)
def test_rate_limit_parse_valid_forms(text: str, limit: int, window: int) -> None:
    parsed = RateLimit.parse(text, name="CSTAR_RATE_LIMIT")

    assert parsed == RateLimit(limit=limit, window_seconds=window)
    assert isinstance(parsed.limit, int)
    assert isinstance(parsed.window_seconds, int)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "1000",
        "/60s",
        "1000/60d",
        "1000/60S",
        "1000/1M",
        "-5/60s",
        "5/-60s",
        "1.5/60s",
        "1000/60s/2",
        "1000 per 60s",
        "1000/60ss",
        "1000//60s",
        "x1000/60s",
    ],
)
def test_rate_limit_parse_rejects_malformed_text_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        RateLimit.parse(text, name="CSTAR_SOME_LIMIT")

    message = str(excinfo.value)
    assert "CSTAR_SOME_LIMIT" in message
    assert repr(text) in message


@pytest.mark.parametrize("text", ["0/60s", "0/1m", "10/0s", "10/0m", "10/0h", "10/0", "0/0s"])
def test_rate_limit_parse_rejects_zero_count_or_zero_window(text: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        RateLimit.parse(text, name="CSTAR_AUTH_FAILURE_LIMIT")

    message = str(excinfo.value)
    assert "CSTAR_AUTH_FAILURE_LIMIT" in message
    assert "at least 1" in message
    assert repr(text) in message


# ---------------------------------------------------------------------------------------------
# Settings.from_env: defaults
# ---------------------------------------------------------------------------------------------


def test_from_env_with_empty_environment_gives_documented_defaults() -> None:
    settings = Settings.from_env({})

    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///cstar.db"
    assert settings.dev is False
    assert settings.master_keys == ()
    assert settings.master_key_file is None
    assert settings.rate_limit == RateLimit(1000, 60)
    assert settings.auth_failure_limit == RateLimit(100, 60)
    assert settings.max_body_bytes == 256 * 1024
    assert settings.dashboard_base_url == "https://www.cstar.help"
    assert settings.log_level == "INFO"


def test_from_env_defaults_equal_the_dataclass_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_from_env_ignores_unrelated_variables() -> None:
    env = {"PATH": "/usr/bin", "DATABASE_URL": "postgresql://x/y", "CSTAR": "1", "DEV": "1"}

    assert Settings.from_env(env) == Settings()


def test_from_env_without_mapping_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSTAR_LOG_LEVEL", "warning")
    monkeypatch.setenv("CSTAR_DATABASE_URL", "sqlite:///from-os-environ.db")

    settings = Settings.from_env()

    assert settings.log_level == "WARNING"
    assert settings.database_url == "sqlite:///from-os-environ.db"


@pytest.mark.parametrize(
    "name",
    [
        "CSTAR_DATABASE_URL",
        "CSTAR_DEV",
        "CSTAR_MASTER_KEY",
        "CSTAR_MASTER_KEY_FILE",
        "CSTAR_MAX_BODY_BYTES",
        "CSTAR_DASHBOARD_URL",
        "CSTAR_LOG_LEVEL",
    ],
)
@pytest.mark.parametrize("blank", ["", "   "])
def test_from_env_blank_values_mean_default(name: str, blank: str) -> None:
    assert Settings.from_env({name: blank}) == Settings()


@pytest.mark.parametrize("name", ["CSTAR_RATE_LIMIT", "CSTAR_AUTH_FAILURE_LIMIT"])
def test_from_env_blank_rate_limits_mean_default(name: str) -> None:
    assert Settings.from_env({name: ""}) == Settings()


# ---------------------------------------------------------------------------------------------
# Settings.from_env: every variable
# ---------------------------------------------------------------------------------------------


def test_from_env_database_url_is_read_and_stripped() -> None:
    url = "postgresql+asyncpg://cstar:pw@db.internal:5432/cstar"

    settings = Settings.from_env({"CSTAR_DATABASE_URL": f"  {url}\n"})

    assert settings.database_url == url


@pytest.mark.parametrize(
    "raw", ["1", "true", "TRUE", "True", "yes", "YES", "on", "On", " true ", "\tyes\n"]
)
def test_from_env_dev_true_spellings(raw: str) -> None:
    assert Settings.from_env({"CSTAR_DEV": raw}).dev is True


@pytest.mark.parametrize("raw", ["0", "false", "FALSE", "no", "No", "off", "OFF", " 0 "])
def test_from_env_dev_false_spellings(raw: str) -> None:
    assert Settings.from_env({"CSTAR_DEV": raw}).dev is False


@pytest.mark.parametrize("raw", ["2", "maybe", "y", "n", "t", "f", "enabled", "-1", "tru e"])
def test_from_env_bad_boolean_raises_config_error_naming_variable(raw: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Settings.from_env({"CSTAR_DEV": raw})

    message = str(excinfo.value)
    assert "CSTAR_DEV" in message
    assert repr(raw) in message


def test_from_env_single_master_key() -> None:
    assert Settings.from_env({"CSTAR_MASTER_KEY": "key-one"}).master_keys == ("key-one",)


def test_from_env_comma_separated_master_keys_keep_order_and_are_trimmed() -> None:
    settings = Settings.from_env({"CSTAR_MASTER_KEY": " newest , older,oldest "})

    assert settings.master_keys == ("newest", "older", "oldest")


def test_from_env_master_keys_skip_empty_entries() -> None:
    settings = Settings.from_env({"CSTAR_MASTER_KEY": ",newest,, ,older,"})

    assert settings.master_keys == ("newest", "older")


def test_from_env_master_key_of_only_commas_means_no_keys() -> None:
    assert Settings.from_env({"CSTAR_MASTER_KEY": " , ,, "}).master_keys == ()


def test_from_env_master_key_file_is_a_stripped_path() -> None:
    settings = Settings.from_env({"CSTAR_MASTER_KEY_FILE": "  /etc/cstar/master.key \n"})

    assert settings.master_key_file == Path("/etc/cstar/master.key")
    assert isinstance(settings.master_key_file, Path)


def test_from_env_rate_limits_are_parsed() -> None:
    settings = Settings.from_env({"CSTAR_RATE_LIMIT": "50/1m", "CSTAR_AUTH_FAILURE_LIMIT": "5/1h"})

    assert settings.rate_limit == RateLimit(50, 60)
    assert settings.auth_failure_limit == RateLimit(5, 3600)


@pytest.mark.parametrize("name", ["CSTAR_RATE_LIMIT", "CSTAR_AUTH_FAILURE_LIMIT"])
@pytest.mark.parametrize("raw", ["lots", "10/day", "0/60s"])
def test_from_env_bad_rate_limit_names_its_own_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Settings.from_env({name: raw})

    assert name in str(excinfo.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1024", 1024), ("1048576", 1048576), (" 4096 ", 4096), ("+2048", 2048)],
)
def test_from_env_max_body_bytes(raw: str, expected: int) -> None:
    assert Settings.from_env({"CSTAR_MAX_BODY_BYTES": raw}).max_body_bytes == expected


@pytest.mark.parametrize("raw", ["abc", "1.5", "1e6", "256k", "0x400", "ten"])
def test_from_env_max_body_bytes_not_an_integer(raw: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Settings.from_env({"CSTAR_MAX_BODY_BYTES": raw})

    message = str(excinfo.value)
    assert "CSTAR_MAX_BODY_BYTES" in message
    assert "integer" in message
    assert repr(raw) in message


@pytest.mark.parametrize("raw", ["1023", "0", "-1", "1"])
def test_from_env_max_body_bytes_below_minimum(raw: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Settings.from_env({"CSTAR_MAX_BODY_BYTES": raw})

    message = str(excinfo.value)
    assert "CSTAR_MAX_BODY_BYTES" in message
    assert "at least 1024" in message


def test_from_env_dashboard_url_is_read_and_stripped() -> None:
    settings = Settings.from_env({"CSTAR_DASHBOARD_URL": " https://help.example.com "})

    assert settings.dashboard_base_url == "https://help.example.com"


@pytest.mark.parametrize(
    ("raw", "expected"), [("debug", "DEBUG"), (" Warning ", "WARNING"), ("ERROR", "ERROR")]
)
def test_from_env_log_level_is_stripped_and_upper_cased(raw: str, expected: str) -> None:
    assert Settings.from_env({"CSTAR_LOG_LEVEL": raw}).log_level == expected


def test_from_env_reads_every_variable_together() -> None:
    env = {
        "CSTAR_DATABASE_URL": "postgresql://cstar@db/cstar",
        "CSTAR_DEV": "yes",
        "CSTAR_MASTER_KEY": "k1,k2",
        "CSTAR_MASTER_KEY_FILE": "/run/secrets/cstar.key",
        "CSTAR_RATE_LIMIT": "10/s",
        "CSTAR_AUTH_FAILURE_LIMIT": "3/1m",
        "CSTAR_MAX_BODY_BYTES": "2048",
        "CSTAR_DASHBOARD_URL": "https://desk.example.org",
        "CSTAR_LOG_LEVEL": "debug",
    }

    assert Settings.from_env(env) == Settings(
        database_url="postgresql://cstar@db/cstar",
        dev=True,
        master_keys=("k1", "k2"),
        master_key_file=Path("/run/secrets/cstar.key"),
        rate_limit=RateLimit(10, 1),
        auth_failure_limit=RateLimit(3, 60),
        max_body_bytes=2048,
        dashboard_base_url="https://desk.example.org",
        log_level="DEBUG",
    )


# ---------------------------------------------------------------------------------------------
# Settings.from_env: overrides
# ---------------------------------------------------------------------------------------------


def test_overrides_win_over_environment() -> None:
    env = {"CSTAR_DATABASE_URL": "sqlite:///env.db", "CSTAR_DEV": "1", "CSTAR_LOG_LEVEL": "info"}

    settings = Settings.from_env(
        env,
        database_url="sqlite:///cli.db",
        dev=False,
        rate_limit=RateLimit(7, 7),
        master_key_file=Path("/cli/key"),
    )

    assert settings.database_url == "sqlite:///cli.db"
    assert settings.dev is False
    assert settings.rate_limit == RateLimit(7, 7)
    assert settings.master_key_file == Path("/cli/key")
    # Not overridden: still from the environment.
    assert settings.log_level == "INFO"


def test_none_overrides_are_ignored() -> None:
    env = {"CSTAR_DATABASE_URL": "sqlite:///env.db", "CSTAR_DEV": "true"}

    settings = Settings.from_env(
        env, database_url=None, dev=None, master_key_file=None, log_level=None
    )

    assert settings == Settings.from_env(env)
    assert settings.database_url == "sqlite:///env.db"
    assert settings.dev is True


def test_override_applies_on_top_of_defaults() -> None:
    settings = Settings.from_env({}, dev=True, max_body_bytes=4096)

    assert settings.dev is True
    assert settings.max_body_bytes == 4096
    assert settings.database_url == DEFAULT_DATABASE_URL


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(TypeError):
        Settings.from_env({}, no_such_setting=1)


# ---------------------------------------------------------------------------------------------
# Settings.resolved_master_key_file
# ---------------------------------------------------------------------------------------------


def test_resolved_master_key_file_explicit_file_wins(tmp_path: Path) -> None:
    explicit = tmp_path / "keys" / "master.key"
    settings = Settings(database_url="sqlite:////var/lib/cstar/cstar.db", master_key_file=explicit)

    assert settings.resolved_master_key_file() == explicit


def test_resolved_master_key_file_beside_relative_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(database_url="sqlite:///rel.db")

    assert settings.resolved_master_key_file() == tmp_path.resolve() / MASTER_KEY_FILENAME


def test_resolved_master_key_file_beside_relative_sqlite_file_in_subdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(database_url="sqlite+aiosqlite:///data/sub/rel.db")

    assert settings.resolved_master_key_file() == (
        tmp_path.resolve() / "data" / "sub" / MASTER_KEY_FILENAME
    )


def test_resolved_master_key_file_beside_absolute_sqlite_file() -> None:
    settings = Settings(database_url="sqlite:////abs/x.db")

    assert settings.resolved_master_key_file() == Path("/abs") / MASTER_KEY_FILENAME


def test_resolved_master_key_file_beside_absolute_sqlite_file_in_tmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    db = tmp_path.resolve() / "data" / "cstar.db"
    settings = Settings(database_url=f"sqlite:///{db}?timeout=5")

    assert str(db).startswith("/")
    assert settings.resolved_master_key_file() == db.parent / MASTER_KEY_FILENAME


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://cstar@127.0.0.1:5432/cstar",
        "postgresql+asyncpg://cstar@db/cstar",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite+aiosqlite://",
    ],
)
def test_resolved_master_key_file_in_cwd_without_sqlite_file(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(database_url=url)

    assert settings.resolved_master_key_file() == tmp_path.resolve() / MASTER_KEY_FILENAME


def test_resolved_master_key_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    from_file = Settings.from_env({"CSTAR_MASTER_KEY_FILE": "/srv/k"})
    from_db = Settings.from_env({"CSTAR_DATABASE_URL": "sqlite:////srv/db/cstar.db"})
    default = Settings.from_env({})

    assert from_file.resolved_master_key_file() == Path("/srv/k")
    assert from_db.resolved_master_key_file() == Path("/srv/db") / MASTER_KEY_FILENAME
    assert default.resolved_master_key_file() == tmp_path.resolve() / MASTER_KEY_FILENAME


# ---------------------------------------------------------------------------------------------
# sqlite_path
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///cstar.db", "cstar.db"),
        ("sqlite:///data/cstar.db", "data/cstar.db"),
        ("sqlite:////var/lib/cstar/cstar.db", "/var/lib/cstar/cstar.db"),
        ("sqlite+aiosqlite:///cstar.db", "cstar.db"),
        ("sqlite+aiosqlite:////abs/x.db", "/abs/x.db"),
        ("sqlite:///cstar.db?timeout=5&mode=rwc", "cstar.db"),
        ("sqlite:////abs/x.db?timeout=5", "/abs/x.db"),
        ("sqlite://", ":memory:"),
        ("sqlite:///", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite:///:memory:?cache=shared", ":memory:"),
        ("sqlite+aiosqlite://", ":memory:"),
        ("sqlite+aiosqlite:///:memory:", ":memory:"),
        ("postgresql://cstar@localhost/cstar", None),
        ("postgresql+asyncpg://cstar@localhost/cstar", None),
        ("mysql://root@localhost/cstar", None),
        ("", None),
    ],
)
def test_sqlite_path(url: str, expected: str | None) -> None:
    assert sqlite_path(url) == expected


@pytest.mark.parametrize(
    ("env", "ok"),
    [
        ({"CSTAR_DELIVERY_TIMEOUT": "30s"}, True),
        ({"CSTAR_DELIVERY_TIMEOUT": "59s"}, True),
        ({"CSTAR_DELIVERY_TIMEOUT": "59.5s"}, False),
        ({"CSTAR_DELIVERY_TIMEOUT": "60s"}, False),
        ({"CSTAR_DELIVERY_TIMEOUT": "60s", "CSTAR_LEASE": "2m"}, True),
        ({"CSTAR_LEASE": "4s", "CSTAR_DELIVERY_TIMEOUT": "2s"}, True),
        ({"CSTAR_LEASE": "2s", "CSTAR_DELIVERY_TIMEOUT": "1.5s"}, False),
    ],
)
def test_a_lease_must_outlast_the_delivery_timeout(env: dict[str, str], ok: bool) -> None:
    # Otherwise every claim is given back before it is sent, over and over.
    if ok:
        Settings.from_env(env)
        return
    with pytest.raises(ConfigError, match=r"CSTAR_LEASE .* at least CSTAR_DELIVERY_TIMEOUT"):
        Settings.from_env(env)


def test_observability_settings_from_env() -> None:
    settings = Settings.from_env(
        {
            "CSTAR_METRICS_TOKEN": " t" + "x" * 20 + " ",
            "CSTAR_METRICS_PORT": "9101",
            "CSTAR_METRICS_HOST": "0.0.0.0",
            "CSTAR_LOG_FORMAT": "JSON",
        }
    )
    assert settings.metrics_token == "t" + "x" * 20
    assert settings.metrics_port == 9101
    assert settings.metrics_host == "0.0.0.0"
    assert settings.log_format == "json"
    defaults = Settings.from_env({})
    assert (defaults.metrics_token, defaults.metrics_port, defaults.log_format) == (
        None,
        None,
        "text",
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CSTAR_METRICS_TOKEN", "x" * 15),
        ("CSTAR_METRICS_TOKEN", "x" * 15 + "\u00e9"),
        ("CSTAR_METRICS_TOKEN", "x" * 10 + " " + "x" * 10),
        ("CSTAR_METRICS_PORT", "0"),
        ("CSTAR_METRICS_PORT", "65536"),
        ("CSTAR_METRICS_PORT", "-1"),
        ("CSTAR_LOG_FORMAT", "yaml"),
    ],
)
def test_bad_observability_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    "url",
    ["http://proxy.internal:3128", "https://gw.example.com", "http://u:p%40ss@10.0.0.1:8080/"],
)
def test_egress_proxy_from_env(url: str) -> None:
    assert Settings.from_env({"CSTAR_EGRESS_PROXY": f" {url} "}).egress_proxy == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("socks5://proxy:1080", "scheme must be http or https"),
        ("proxy.internal:3128", "scheme must be http or https"),
        ("http://", "names no host"),
        ("http://proxy:3128/some/path", "only scheme, host and port"),
        ("http://proxy:3128?x=1", "only scheme, host and port"),
        ("http://proxy:99999", "not a valid URL"),
        ("http://proxy:0", "port must be from 1 to 65535"),
    ],
)
def test_bad_egress_proxy_is_refused_without_showing_its_password(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match="CSTAR_EGRESS_PROXY") as excinfo:
        Settings.from_env({"CSTAR_EGRESS_PROXY": url.replace("//", "//user:hunter2@", 1)})
    assert problem in str(excinfo.value)
    assert "hunter2" not in str(excinfo.value)


def test_redact_proxy_hides_only_the_password() -> None:
    from cstar.server.config import redact_proxy

    assert redact_proxy("http://u:secret@gw:3128") == "http://u:***@gw:3128"
    assert redact_proxy("http://u@gw:3128") == "http://u@gw:3128"
    assert redact_proxy("http://gw:3128") == "http://gw:3128"
    assert redact_proxy("http://u:p@ss@gw:3128") == "http://u:***@gw:3128"
