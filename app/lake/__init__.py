"""The replicated history as Iceberg tables (``export``) and SQL over them (``sql``, ``GET /sql``)."""
