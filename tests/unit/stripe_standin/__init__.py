"""Tests of the local Stripe stand-in, driven through the official stripe SDK."""
