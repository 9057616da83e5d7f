"""Secrets Manager reads through Powertools parameters, cached in the process for a few minutes."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parameters import get_secret

SECRET_CACHE_SECONDS = 300


def secret_string(arn: str, max_age: int = SECRET_CACHE_SECONDS) -> str:
    value = get_secret(arn, max_age=max_age)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)
