"""What every client command shares: the global flags and turning failures into one line."""

from __future__ import annotations

import contextlib
import functools
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, ParamSpec, TypeVar

import typer

from cstar.cli.client.output import Output
from cstar.cli.credentials import CredentialStore
from cstar.cli.session import CliError, connect, describe
from cstar.sdk import CStarClient, CStarError

P = ParamSpec("P")
R = TypeVar("R")

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print JSON only (for piping to jq).", show_default=False)
]
ApiKeyFlag = Annotated[
    str | None,
    typer.Option(
        "--api-key", help="Use this API key instead of the stored one.", show_default=False
    ),
]
BaseUrlFlag = Annotated[
    str | None,
    typer.Option(
        "--base-url", help="The server, such as http://127.0.0.1:8000.", show_default=False
    ),
]
NoColorFlag = Annotated[
    bool, typer.Option("--no-color", help="Disable colored output.", show_default=False)
]


@dataclass(frozen=True)
class Globals:
    as_json: bool
    api_key: str | None
    base_url: str | None
    no_color: bool

    @property
    def output(self) -> Output:
        return Output(as_json=self.as_json, no_color=self.no_color)

    def client(self) -> CStarClient:
        return connect(api_key=self.api_key, base_url=self.base_url, store=CredentialStore())


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Failures become one line on stderr and exit code 1 (130 on Ctrl-C), never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        no_color = bool(kwargs.get("no_color"))
        try:
            return command(*args, **kwargs)
        except CliError as exc:
            Output(no_color=no_color).error(str(exc))
            raise typer.Exit(exc.code) from None
        except CStarError as exc:
            base = kwargs.get("base_url")
            Output(no_color=no_color).error(str(describe(exc, str(base or "the server"))))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper


@contextlib.contextmanager
def interrupted_by_sigterm() -> Iterator[None]:
    """For long-running commands (``listen``, ``logs --tail``): SIGTERM stops them like Ctrl-C,
    so they finish cleanly under a process manager too."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
