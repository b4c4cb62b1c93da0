"""SQLite's backend (``backend.py``) and its SQL, shipped with the package: ``queries.sql``
holds the backend's hot statements by name (read by ``store/queries.py``)."""
