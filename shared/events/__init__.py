"""Event history (90 days, per-resource sequences) and merchants' webhook endpoints and deliveries."""
