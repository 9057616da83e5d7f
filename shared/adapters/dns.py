"""AddressResolver on the system resolver (getaddrinfo): every address a webhook host has right now."""

from __future__ import annotations

import ipaddress
import socket


class SystemResolver:
    def resolve(self, host: str) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return []
        return sorted({str(info[4][0]) for info in infos})
