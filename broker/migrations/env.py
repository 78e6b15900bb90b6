"""Alembic environment: runs on the connection handed over by ``broker.db.upgrade``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import broker.access.models
import broker.accounts.models
import broker.contact.models
import broker.disclosure.models
import broker.ingest.models
import broker.oidc.models
import broker.policy.models
import broker.release.models
import broker.renovation.models
import broker.scheduler.models  # noqa: F401 - registers the tables
from audit import metadata as audit_metadata
from broker.db import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise TypeError("run migrations through `broker db upgrade`")

context.configure(
    connection=connection,
    target_metadata=[Base.metadata, audit_metadata],
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
