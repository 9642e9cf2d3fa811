"""API keys: secrets shown once, stored as hashes, checked on every request, revocable at once."""
