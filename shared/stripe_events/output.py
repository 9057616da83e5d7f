"""Stripe's webhook answer (the envelope's `data`): the event and what applying it did."""

from typing import Literal

from shared.models.output import Output


class StripeEventReceived(Output):
    received: Literal[True]
    event_id: str
    type: str
    outcome: str
