"""Routes of this function are declared in the stack; until its issue lands each answers the 404 envelope."""

from __future__ import annotations

from shared.placeholder import placeholder_handler

lambda_handler = placeholder_handler("pay")
