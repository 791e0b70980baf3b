"""Alembic environment: migrations run on the connection the Store hands over.

Upgrades need no metadata. To compare the schema with the migrations (tests do), hand
``engine.schema.metadata`` over as the ``metadata`` attribute; the store cannot import it,
since every context's tables sit above the store.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=context.config.attributes.get("metadata"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
