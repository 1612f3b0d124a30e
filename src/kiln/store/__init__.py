"""Metadata database: SQLAlchemy tables, Alembic migrations, one repository per resource."""
