"""SQL for SQLite only, shipped with the package: ``queries.sql``, the hot statements."""
