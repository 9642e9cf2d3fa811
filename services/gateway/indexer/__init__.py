"""The indexer: change feeds into the search index (feeds, runner, sink, documents), reindexing."""
