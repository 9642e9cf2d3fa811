"""Shared kernel: infrastructure every domain service and the gateway build on (no domain code)."""
