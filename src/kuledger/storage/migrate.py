"""Creating and upgrading the schema with Alembic, and seeding the catalogue."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from kuledger.domain.currencies import DEFAULT_CURRENCIES
from kuledger.storage.schema import currencies

_SCRIPTS = Path(__file__).parent / "migrations"


def _config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to `revision` (the newest by default); return
    (before, after)."""
    with engine.connect() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        connection.commit()
        command.upgrade(_config(connection), revision)
        connection.commit()
    with engine.begin() as connection:
        known = set(connection.execute(sa.select(currencies.c.code)).scalars())
        missing = [c for c in DEFAULT_CURRENCIES if c.code not in known]
        if missing:
            connection.execute(
                currencies.insert(),
                [
                    {"code": c.code, "precision": c.precision, "name": c.name}
                    for c in missing
                ],
            )
    after = current_revision(engine)
    assert after is not None
    return before, after


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to `revision` (tests and rollbacks)."""
    with engine.connect() as connection:
        command.downgrade(_config(connection), revision)
        connection.commit()


def head_revision() -> str:
    head = ScriptDirectory(str(_SCRIPTS)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
