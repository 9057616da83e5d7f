"""The table the realtime and stream tests run against, and the keys realtime relies on in it."""

from __future__ import annotations

import subprocess
import warnings
from typing import Any

import boto3
from moto import mock_aws

from local.runtime.cfn_dynamodb import create_table_from_definition
from tests.support.template import local_template, table_properties

TABLE_NAME = "WalletsTable"


def design_md_table_fallback() -> dict[str, Any]:
    """The table of docs/DESIGN.md, used only while the stack does not synthesize (it warns when used)."""
    string_keys = ["pk", "sk"] + [f"gsi{n}{part}" for n in (1, 2, 3) for part in ("pk", "sk")]
    return {
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in string_keys],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
        "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
        "GlobalSecondaryIndexes": [
            {
                "IndexName": f"gsi{n}",
                "KeySchema": [
                    {"AttributeName": f"gsi{n}pk", "KeyType": "HASH"},
                    {"AttributeName": f"gsi{n}sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for n in (1, 2, 3)
        ],
    }


def wallets_table_properties() -> dict[str, Any]:
    try:
        return table_properties(local_template())
    except (subprocess.CalledProcessError, LookupError, FileNotFoundError) as exc:
        warnings.warn(f"stack does not synthesize ({exc}); using the docs/DESIGN.md table", stacklevel=2)
        return design_md_table_fallback()


def create_wallets_table(table_name: str = TABLE_NAME) -> Any:
    """Create the table in the active moto mock and return its boto3 resource."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_table_from_definition(client, wallets_table_properties(), table_name)
    return boto3.resource("dynamodb", region_name="us-east-1").Table(table_name)


@mock_aws
def test_table_has_what_realtime_needs() -> None:
    table = create_wallets_table()
    description = table.meta.client.describe_table(TableName=TABLE_NAME)["Table"]
    indexes = {index["IndexName"]: index for index in description["GlobalSecondaryIndexes"]}
    for name in ("gsi1", "gsi2"):
        assert [k["AttributeName"] for k in indexes[name]["KeySchema"]] == [f"{name}pk", f"{name}sk"]
        assert indexes[name]["Projection"]["ProjectionType"] == "ALL"
    assert description["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ttl = table.meta.client.describe_time_to_live(TableName=TABLE_NAME)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "ttl"
