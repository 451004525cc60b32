"""Alembic environment: runs on the connection that :func:`bizmodel.store.migrate` passes in."""

from __future__ import annotations

from alembic import context

from bizmodel.store.schema import metadata


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if hasattr(context, "config"):  # false when merely imported (e.g. by doctest collection)
    run_migrations()
