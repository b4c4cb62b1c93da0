"""What the client commands print: rich text for people, bare JSON for ``--json`` (and ``jq``),
one line on stderr for failures. Colour follows ``--no-color``, ``NO_COLOR`` and the terminal."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape


@dataclass
class Output:
    as_json: bool = False
    no_color: bool = False

    def __post_init__(self) -> None:
        # Plain means no escape codes at all (no bold either): what a log file or a pipe wants.
        plain = self.no_color or bool(os.environ.get("NO_COLOR"))
        system: Literal["auto"] | None = None if plain else "auto"
        self.out = Console(color_system=system, highlight=False, soft_wrap=True)
        if not self.out.is_terminal and "COLUMNS" not in os.environ:
            # Piped or redirected: tables need not fit an 80-column terminal nobody sees.
            self.out = Console(color_system=system, highlight=False, soft_wrap=True, width=160)
        self.err = Console(stderr=True, color_system=system, highlight=False, soft_wrap=True)

    def json(self, value: Any) -> None:
        """One JSON document on stdout (one line, so a stream of them is JSON lines)."""
        sys.stdout.write(json.dumps(value, default=str, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def line(self, text: str = "") -> None:
        """Rich markup on stdout (nothing in ``--json`` mode)."""
        if not self.as_json:
            self.out.print(text)

    def note(self, text: str) -> None:
        """A remark on stderr, shown in ``--json`` mode too (stdout stays pure JSON)."""
        self.err.print(text)

    def error(self, message: str) -> None:
        self.err.print(f"[bold red]Error:[/] {escape(message)}")

    @contextlib.contextmanager
    def waiting(self, message: str) -> Iterator[None]:
        """A spinner on stderr while something slow runs, when a person is watching."""
        if self.as_json or not self.err.is_terminal:
            yield
            return
        with self.err.status(message):
            yield


def esc(value: object) -> str:
    """Text from the server, safe inside rich markup."""
    return escape(str(value))
