"""Without the ``server`` extra, server commands say how to install it instead of failing."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from typer.testing import CliRunner

from cstar.cli.main import app


@pytest.mark.parametrize("command", [["serve"], ["admin", "list-teams"]])
def test_server_commands_explain_the_missing_extra(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    real = importlib.util.find_spec

    def without_server(name: str, *args: Any, **kwargs: Any) -> Any:
        if name in {"fastapi", "sqlalchemy"}:
            return None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_server)
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1
    assert "pip install 'cstar[server]'" in result.output
    assert "fastapi, sqlalchemy" in result.output
    assert "Traceback" not in result.output


def test_version_flag() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("cstar ")
