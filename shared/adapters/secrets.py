"""Secrets Manager reads through Powertools parameters, cached in the process for a few minutes."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.parameters import get_secret

SECRET_CACHE_SECONDS = 300


def secret_string(arn: str, max_age: int = SECRET_CACHE_SECONDS) -> str:
    value = get_secret(arn, max_age=max_age)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def secret_json(arn: str, max_age: int = SECRET_CACHE_SECONDS) -> dict[str, str]:
    """A secret holding one JSON object of named values (StripeSecret, ProvidersSecret)."""
    loaded = json.loads(secret_string(arn, max_age))
    if not isinstance(loaded, dict):
        raise ValueError("the secret does not hold a JSON object")
    return {str(name): str(item) for name, item in loaded.items()}
