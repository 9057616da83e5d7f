"""A local stand-in for the Stripe API (Issuing, PaymentIntents, refunds, events, signed webhooks)."""
