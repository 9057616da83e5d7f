"""The hosted payroll claim page (shared/data/claim.html, in the checkout page's style and under the same
security headers): the claim's view as inline JSON; the page counts down and posts the claim itself."""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from typing import Any

from shared.checkout.service import script_json

_DATA_SLOT = "__CLAIM_DATA__"
_MESSAGE_SLOT = "__ERROR_MESSAGE__"


@cache
def _template(name: str) -> str:
    return resources.files("shared.data").joinpath(name).read_text(encoding="utf-8")


def claim_page(view: dict[str, Any]) -> str:
    return _template("claim.html").replace(_DATA_SLOT, script_json(view))


def claim_error_page(message: str) -> str:
    return _template("claim_error.html").replace(_MESSAGE_SLOT, html.escape(message))
