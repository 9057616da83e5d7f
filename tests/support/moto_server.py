"""A boto3 client for a moto server the test started (fake credentials, us-east-1)."""

from __future__ import annotations

from typing import Any

import boto3


def client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
