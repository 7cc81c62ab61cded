"""sevflow's own store: the SQLAlchemy schema, the repository and Alembic migrations."""
