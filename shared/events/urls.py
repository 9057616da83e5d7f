"""Where a webhook may be sent: deployed, only `https` to hosts whose every address is public; locally
(the runtime's WEBHOOK_ALLOW_LOOPBACK) also `http` to loopback, so tests and demos can receive.

Checked when an endpoint is created or changed, and again before every send (the resolver runs again then),
so a name that later resolves to a private address (DNS rebinding) is refused at send time too.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048


class AddressResolver(Protocol):
    def resolve(self, host: str) -> list[str]:
        """Every address `host` resolves to now (empty when it does not resolve)."""
        ...


class UrlRefused(ValueError):
    """Why a URL may not receive webhooks (a human-readable reason for the 400 or the delivery log)."""


def check_url(url: str, resolver: AddressResolver, *, allow_loopback: bool) -> None:
    """Refuse (UrlRefused) a URL that is malformed, not https (deployed), or reaches a non-public address."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url):
        raise UrlRefused("must be an absolute URL without spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("must be an absolute URL") from exc
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        raise UrlRefused("must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("must not carry credentials")
    if port == 0:
        raise UrlRefused("must not use port 0")
    addresses = resolver.resolve(host)
    if not addresses:
        raise UrlRefused("its host does not resolve")
    parsed = [ipaddress.ip_address(a.split("%")[0]) for a in addresses]
    loopback = all(a.is_loopback for a in parsed)
    if allow_loopback and loopback:
        return
    if parts.scheme != "https":
        raise UrlRefused("must use https")
    for address in parsed:
        if not address.is_global or address.is_multicast:
            raise UrlRefused(f"resolves to a non-public address ({address})")
