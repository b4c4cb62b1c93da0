"""Text a client sends that the server stores: what it may not contain.

PostgreSQL refuses NUL in text; the other C0 controls and DEL are refused too, as in webhook
names, so that both databases accept exactly the same input.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None
