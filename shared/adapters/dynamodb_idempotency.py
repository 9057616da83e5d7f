"""The Powertools idempotency store on the one table (pk `IDEMPOTENCY#{service}`, sk the key's hash)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer


def idempotency_store(client: Any, table_name: str, service: str) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=f"IDEMPOTENCY#{service}",
        expiry_attr="ttl",
        boto3_client=client,
    )
