"""PostgreSQL: every change to an API key or its owner NOTIFYs kuledger_keys.

Triggers on `api_keys` and `users` call pg_notify('kuledger_keys', ...) for
each updated or deleted row (`k:<key>`, `u:<uid>`) and `*` for a TRUNCATE,
whoever writes, raw SQL included; the workers' key caches listen
(storage/key_notify.py). A no-op on SQLite, whose workers cache no key rows.

Revision ID: key_notify
Revises: fees
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "key_notify"
down_revision = "fees"
branch_labels = None
depends_on = None

# A payload over pg_notify's 8000 bytes would fail the write: such a name
# (none is that long) tells every cache to drop everything instead.
_FUNCTION = """
CREATE FUNCTION kuledger_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    names text[];
    name text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('kuledger_keys', '*');
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'api_keys' THEN
        names := ARRAY['k:' || OLD.key];
        IF TG_OP = 'UPDATE' AND NEW.key IS DISTINCT FROM OLD.key THEN
            names := names || ('k:' || NEW.key);
        END IF;
    ELSE
        names := ARRAY['u:' || OLD.uid];
        IF TG_OP = 'UPDATE' AND NEW.uid IS DISTINCT FROM OLD.uid THEN
            names := names || ('u:' || NEW.uid);
        END IF;
    END IF;
    FOREACH name IN ARRAY names LOOP
        IF octet_length(name) > 7000 THEN
            name := '*';
        END IF;
        PERFORM pg_notify('kuledger_keys', name);
    END LOOP;
    RETURN NULL;
END
$$
"""

_TABLES = ("api_keys", "users")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_changed AFTER UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION kuledger_key_changed()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_truncated AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION kuledger_key_changed()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"DROP TRIGGER {table}_truncated ON {table}")
        op.execute(f"DROP TRIGGER {table}_changed ON {table}")
    op.execute("DROP FUNCTION kuledger_key_changed()")
