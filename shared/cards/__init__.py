"""Ports to the card issuer and the payment processor."""
