"""Search backends: Elasticsearch for production, embedded SQLite FTS5 as the zero-setup default."""
