"""What ``/healthz`` reports beyond the database: a part of this process that has stopped."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ProcessHealth:
    """Set once, when something this process depends on has died; the process then stops."""

    problem: str | None = None

    def fail(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem
