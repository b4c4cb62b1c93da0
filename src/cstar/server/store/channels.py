"""PostgreSQL ``LISTEN``/``NOTIFY`` channels, named once for publishers and listeners.

Publishing notifies in the transaction that stores the event (PostgreSQL's backend,
``store/postgres/backend.py``), so listeners in every process hear of it when it commits.
"""

from __future__ import annotations

#: Deliveries were queued: wakes idle dispatchers (``dispatch/wakeup.py``).
DELIVERIES_CHANNEL = "cstar_deliveries"
#: An event was stored: wakes the realtime streams of every API process (``bootstrap.py``).
EVENTS_CHANNEL = "cstar_events"
