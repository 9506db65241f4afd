"""Postgres: migrations, the pool, and one repository module per table group."""
