"""Alembic revisions: ``0001`` (initial store schema), then one file per change."""
