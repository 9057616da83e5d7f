"""The hosted pages' shared parts: their templates (shared/data/*.html), JSON safe inside a <script>
element, and the one page a browser gets for a link that does not work, worded per kind of link."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# Inside <script type="application/json"> only `</script` or `<!--` could end the element early; escaping
# every <, > and & (valid JSON string escapes) rules that out whatever the data's texts hold.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


@cache
def page_template(name: str) -> str:
    return resources.files("shared.data").joinpath(name).read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON that can sit inside an HTML <script> element without ending it."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).translate(_SCRIPT_SAFE)


@dataclass(frozen=True)
class LinkWording:
    """How the link-error page names a kind of link and whom it sends the reader to."""

    title: str
    heading: str
    advice: str


PAYMENT_LINK = LinkWording(
    "Payment link not valid",
    "This payment link does not work",
    "Ask the merchant who sent it for a new link.",
)
CLAIM_LINK = LinkWording(
    "Claim link not valid", "This claim link does not work", "Ask your employer for a new link."
)


def link_error_page(wording: LinkWording, message: str) -> str:
    """shared/data/link_error.html for `wording`, `message` escaped (served with status 400)."""
    page = page_template("link_error.html")
    for slot, text in (
        ("__TITLE__", wording.title),
        ("__HEADING__", wording.heading),
        ("__ADVICE__", wording.advice),
        ("__ERROR_MESSAGE__", message),
    ):
        page = page.replace(slot, html.escape(text))
    return page
