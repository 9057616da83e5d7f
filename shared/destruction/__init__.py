"""Destroying an ephemeral wallet and its destruction log."""
