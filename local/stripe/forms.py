"""Decoding of Stripe's form bodies and query strings with bracket syntax (`a[b][0][c]=v`, `expand[]=x`)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from local.stripe.errors import invalid_request

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def decode(raw: str) -> dict[str, Any]:
    """Nested params from an urlencoded string; keys with only digit children become lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True, strict_parsing=False):
        match = _KEY.match(key)
        if match is None:
            raise invalid_request(f"Invalid parameter name: {key}", param=key)
        parts = [match.group(1), *_PART.findall(match.group(2))]
        _insert(root, parts, value, key)
    return _listify(root)  # type: ignore[no-any-return]


def _insert(node: dict[str, Any], parts: list[str], value: str, key: str) -> None:
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        name = str(len(node)) if part == "" else part
        if last:
            if name in node:
                raise invalid_request(f"Parameter given more than once: {key}", param=key)
            node[name] = value
            return
        child = node.setdefault(name, {})
        if not isinstance(child, dict):
            raise invalid_request(f"Invalid mix of scalar and nested values for {key}", param=key)
        node = child


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _listify(v) for k, v in value.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted
