"""What the browser tests check on every page: accessibility (axe-core), no console errors (CSP
violations included), and, when asked, a screenshot for the README."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

#: ``CSTAR_SCREENSHOTS=docs/screenshots pytest tests/browser -k sqlite`` refreshes the README's.
SCREENSHOTS = os.environ.get("CSTAR_SCREENSHOTS")

_SERIOUS = """
async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
}
"""


def serious_violations(page: Page, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now. axe is injected over
    the DevTools protocol, which the page's Content-Security-Policy does not govern."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    found: list[dict[str, Any]] = page.evaluate(_SERIOUS)
    return found


def check_page(page: Page, axe_source: str, name: str) -> None:
    """The page has no serious accessibility violation, and is screenshot when asked."""
    violations = serious_violations(page, axe_source)
    assert violations == [], (name, violations)
    if SCREENSHOTS:
        folder = Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
