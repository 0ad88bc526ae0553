"""Alembic's environment for the results store: always run online, on the connection that
:func:`candela.results.migrate.upgrade` hands over (no alembic.ini, no URL of its own)."""

from alembic import context

from candela.results.migrate import VERSION_TABLE
from candela.results.schema import METADATA

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=METADATA, version_table=VERSION_TABLE,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
