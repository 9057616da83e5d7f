"""Wallet key pairs and their envelope encryption (primitives from `cryptography` and `pycryptodome`)."""
