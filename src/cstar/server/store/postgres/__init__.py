"""PostgreSQL's backend (``backend.py``) and its SQL, shipped with the package.

``queries.sql`` holds the backend's hot statements by name (read by ``store/queries.py``).
``functions.sql`` holds cStar's server-side functions (``cstar_cycle``) as the newest migration
leaves them, written out in full to be read in one place. The migrations create them, each
restating its own text; nothing runs this file, and ``tests/contract/test_pg_functions.py``
checks that it agrees with the migrations and with an upgraded database.
"""

from __future__ import annotations

from importlib.resources import files


def functions_sql() -> str:
    """The text of ``functions.sql``."""
    return files(__name__).joinpath("functions.sql").read_text(encoding="utf-8")
