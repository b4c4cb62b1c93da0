"""House rules checked with the suite: ruff (lint and format) and mypy --strict on the package
and on the signature vectors' generator (``spec/``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_ruff_lint() -> None:
    result = run(str(BIN / "ruff"), "check", "src", "tests", "bench", "spec", "docs")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run(str(BIN / "ruff"), "format", "--check", "src", "tests", "bench", "spec", "docs")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_the_vector_generator() -> None:
    result = run(str(BIN / "mypy"), "spec/generate_vectors.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_verifier_and_catalog_import_nothing_from_the_server() -> None:
    code = (
        "import sys, cstar.events, cstar.webhook; "
        "bad = [m for m in sys.modules "
        "if m.startswith(('cstar.server', 'fastapi', 'sqlalchemy'))]; "
        "assert not bad, bad"
    )
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr


def test_cli_imports_no_server_dependency_until_a_server_command_runs() -> None:
    code = (
        "import sys, cstar.cli.main; "
        "bad = [m for m in sys.modules if m.startswith(('cstar.server', 'fastapi', 'sqlalchemy', "
        "'uvicorn', 'alembic'))]; "
        "assert not bad, bad"
    )
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
