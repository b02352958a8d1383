"""Storage: the schema, the database connection and the queries, SQLite and PostgreSQL alike."""
