"""What the Tempo and Circle stand-ins share: the token ledger, injected faults, idempotency and serving."""
