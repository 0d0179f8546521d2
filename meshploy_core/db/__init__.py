"""Database access: SQLAlchemy 2 async on asyncpg, Alembic migrations."""
