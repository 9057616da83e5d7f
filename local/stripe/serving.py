"""Run the Stripe stand-in on a free local port in a background thread (tests, the local runtime)."""

from __future__ import annotations

from local.serving import BackgroundServer
from local.stripe.app import Options, StripeStandIn


class BackgroundStandIn(BackgroundServer):
    """`with BackgroundStandIn(options) as standin:` serves on 127.0.0.1 at `standin.base_url`."""

    def __init__(self, options: Options | None = None, port: int = 0) -> None:
        self.standin = StripeStandIn(options)
        # Lifespan on: at shutdown the stand-in cancels its ACH timers and its webhook deliveries.
        super().__init__(self.standin.app, "Stripe", port, lifespan="on")

    def stop(self) -> None:
        super().stop()
        self.standin.close()
