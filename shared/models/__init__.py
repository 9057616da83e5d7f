"""Pydantic models: domain entities and API schemas.

Every model here builds its validator on first use (`defer_build=True`), as the output models do
(shared/models/output.py): a function imports a whole module of schemas for the one or two its invoked
route validates, and building the others at import was most of a model module's share of a cold start.
"""
