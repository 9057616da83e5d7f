"""Dependency health for GET /health."""
