"""Controlled vocabularies shared by the domain services (shipped with the project)."""
