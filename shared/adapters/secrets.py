"""Secrets Manager reads through Powertools parameters, cached in the process for a few minutes."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache

from aws_lambda_powertools.utilities.parameters import get_secret

SECRET_CACHE_SECONDS = 300


def secret_string(arn: str, max_age: int = SECRET_CACHE_SECONDS) -> str:
    value = get_secret(arn, max_age=max_age)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def app_secret_loader(arn: str, override: dict[str, str] | None = None) -> Callable[[], dict[str, str]]:
    """The AppSecret JSON, read on first use and then kept for the process (tests hand in `override`).

    Lazy so that composing a handler at import never waits on Secrets Manager.
    """

    @lru_cache(maxsize=1)
    def load() -> dict[str, str]:
        loaded: dict[str, str] = override or json.loads(secret_string(arn))
        return loaded

    return load
