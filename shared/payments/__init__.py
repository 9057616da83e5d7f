"""Paying an invoice from its wallet."""
