"""Schemas: canonical records (polars), warehouse tables (SQLAlchemy Core), GX suites."""
