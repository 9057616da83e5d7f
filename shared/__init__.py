"""Monay Wallets domain layer: models, services, ports and their adapters."""
