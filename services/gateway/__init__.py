"""The gateway: the platform's only public door (auth, roles, visibility, routing, search)."""
