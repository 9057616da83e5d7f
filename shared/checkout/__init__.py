"""The payer's side of a payment link: signed links and the checkout view."""
