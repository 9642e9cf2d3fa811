"""The change-feed indexer: cursors, leases, retries, lag."""
