"""Translate an AWS::DynamoDB::Table's CloudFormation properties into boto3 create_table arguments."""

from __future__ import annotations

from typing import Any

_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
)


def _index(index: dict[str, Any]) -> dict[str, Any]:
    out = {k: index[k] for k in ("IndexName", "KeySchema", "Projection") if k in index}
    if "ProvisionedThroughput" in index:
        out["ProvisionedThroughput"] = index["ProvisionedThroughput"]
    return out


def create_table_kwargs(properties: dict[str, Any], table_name: str) -> dict[str, Any]:
    """create_table kwargs for a resolved table definition (TTL and PITR are separate calls)."""
    kwargs: dict[str, Any] = {"TableName": table_name}
    kwargs.update({k: properties[k] for k in _TABLE_KEYS if k in properties})
    kwargs.setdefault(
        "BillingMode", "PROVISIONED" if "ProvisionedThroughput" in properties else "PAY_PER_REQUEST"
    )
    if "StreamSpecification" in kwargs:
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": kwargs["StreamSpecification"]["StreamViewType"],
        }
    if properties.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [_index(i) for i in properties["GlobalSecondaryIndexes"]]
    if properties.get("LocalSecondaryIndexes"):
        kwargs["LocalSecondaryIndexes"] = [_index(i) for i in properties["LocalSecondaryIndexes"]]
    return kwargs


def ttl_attribute(properties: dict[str, Any]) -> str | None:
    spec = properties.get("TimeToLiveSpecification") or {}
    return spec.get("AttributeName") if spec.get("Enabled") else None


def create_table_from_definition(client: Any, properties: dict[str, Any], table_name: str) -> None:
    """Create the table with boto3 `client` (moto or real) exactly as the template defines it."""
    client.create_table(**create_table_kwargs(properties, table_name))
    attribute = ttl_attribute(properties)
    if attribute:
        client.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
        )
