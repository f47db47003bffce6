"""Alembic migrations for the gateway's store; run with :func:`gateway.store.db.upgrade`."""
