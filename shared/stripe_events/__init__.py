"""Stripe webhook events, verified and applied once."""
