"""Pydantic models: domain entities and API schemas."""
