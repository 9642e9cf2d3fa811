"""Search in the gateway: Chinese text analysis shared by the Elasticsearch and FTS5 backends."""
