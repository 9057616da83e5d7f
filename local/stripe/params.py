"""Validation of decoded Stripe parameters: unknown names, integers, enums, booleans, metadata."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from local.stripe.errors import invalid_request

_INTEGER = re.compile(r"^-?\d+$")
MAX_METADATA_KEYS = 50


def reject_unknown(params: dict[str, Any], allowed: Iterable[str]) -> None:
    known = set(allowed) | {"expand"}
    for name in params:
        if name not in known:
            raise invalid_request(f"Received unknown parameter: {name}", param=name)


def required(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise invalid_request(f"Missing required param: {name}.", param=name)
    return value


def string(params: dict[str, Any], name: str, default: str | None = None) -> str | None:
    value = params.get(name, default)
    if value is not None and not isinstance(value, str):
        raise invalid_request(f"Invalid string: {name}", param=name)
    return value


def integer(value: Any, param: str, *, minimum: int | None = None) -> int:
    if not isinstance(value, str) or not _INTEGER.match(value):
        raise invalid_request(f"Invalid integer: {value}", param=param)
    number = int(value)
    if minimum is not None and number < minimum:
        raise invalid_request(
            f"This value must be greater than or equal to {minimum}.",
            param=param,
            code="parameter_invalid_integer",
        )
    return number


def boolean(params: dict[str, Any], name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if value in ("true", "false"):
        return bool(value == "true")
    raise invalid_request(f"Invalid boolean: {value}", param=name)


def choice(
    params: dict[str, Any], name: str, options: Iterable[str], default: str | None = None
) -> str | None:
    value = params.get(name, default)
    allowed = tuple(options)
    if value is not None and value not in allowed:
        raise invalid_request(
            f"Invalid {name}: must be one of {', '.join(allowed)}",
            param=name,
            code="parameter_invalid_string",
        )
    return value


def string_list(params: dict[str, Any], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if value == "":
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_request(f"Invalid array: {name}", param=name)
    return value


def metadata(value: Any, current: dict[str, str] | None = None) -> dict[str, str]:
    """Stripe's metadata rules: merge on update, an empty value unsets a key, `metadata=` clears all."""
    merged = dict(current or {})
    if value is None:
        return merged
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid_request("Invalid hash: metadata", param="metadata")
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid_request(f"Invalid metadata value for {key}", param=f"metadata[{key}]")
        if len(key) > 40:
            raise invalid_request(
                "Metadata keys can be at most 40 characters long.", param=f"metadata[{key}]"
            )
        if len(item) > 500:
            raise invalid_request(
                "Metadata values can be at most 500 characters long.", param=f"metadata[{key}]"
            )
        if item == "":
            merged.pop(key, None)
        else:
            merged[key] = item
    if len(merged) > MAX_METADATA_KEYS:
        raise invalid_request("Metadata can have at most 50 keys.", param="metadata")
    return merged


def currency(params: dict[str, Any], name: str = "currency") -> str:
    value = required(params, name)
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
        raise invalid_request(f"Invalid currency: {value}", param=name, code="parameter_invalid_string")
    return value.lower()
