"""Payouts function: the tenant's treasury (its wallet, balances and deposits), payroll and vendor payouts
with maker-checker approval (shared/treasury, shared/payouts; processing runs in payout_worker), and the
payroll claim links. Its routes live in two routers beside it: payout_routes (the treasury and payouts) and
claim_routes (the public claim links)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics

from shared.api import rest_function

if __package__:
    # Imported as functions.payouts.handler (the tests, shared/openapi.py).
    from . import claim_routes, payout_routes
else:
    # In Lambda (and the local runtime) this folder is the task root: the routers are top-level modules.
    import claim_routes
    import payout_routes

metrics = Metrics()
routers = (payout_routes.router, claim_routes.router)

app, lambda_handler = rest_function(*routers, metrics=metrics)
