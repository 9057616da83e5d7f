"""The hosted payroll claim page (shared/data/claim.html, in the checkout page's style and under the same
security headers): the claim's view as inline JSON; the page counts down and posts the claim itself."""

from __future__ import annotations

from typing import Any

from shared.checkout.pages import CLAIM_LINK, link_error_page, page_template, script_json

_DATA_SLOT = "__CLAIM_DATA__"


def claim_page(view: dict[str, Any]) -> str:
    return page_template("claim.html").replace(_DATA_SLOT, script_json(view))


def claim_error_page(message: str) -> str:
    return link_error_page(CLAIM_LINK, message)
