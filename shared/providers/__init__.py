"""Stablecoin providers behind one port: models, errors, retries, health, circuit breaker and selection."""
