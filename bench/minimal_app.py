"""The yardstick of ``bench/ingest.py``: a minimal FastAPI app returning ``{"ok": true}``.

.venv/bin/python -m uvicorn bench.minimal_app:app --log-level warning --port 8001
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def ok() -> dict[str, bool]:
    return {"ok": True}
