"""Storage adapters: SQLAlchemy Core on SQLite (default) and PostgreSQL."""
