"""The tables: the one table's keys, GSIs, TTL, stream, PITR, billing and encryption; the key table apart."""

from __future__ import annotations

from typing import Any

from tests.support.template import resources_of_type, table_properties


def test_the_wallets_table_and_the_key_table(template: dict[str, Any]) -> None:
    # Wallet key material lives apart (tests/infra/test_key_isolation.py); everything else in WalletsTable.
    assert sorted(resources_of_type(template, "AWS::DynamoDB::Table")) == ["WalletKeysTable", "WalletsTable"]


def test_table_keys_and_attributes(template: dict[str, Any]) -> None:
    props = table_properties(template)
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    names = {"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk"}
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == dict.fromkeys(
        names, "S"
    )


def test_three_gsis_project_everything(template: dict[str, Any]) -> None:
    indexes = {i["IndexName"]: i for i in table_properties(template)["GlobalSecondaryIndexes"]}
    assert sorted(indexes) == ["gsi1", "gsi2", "gsi3"]
    for name, index in indexes.items():
        assert index["KeySchema"] == [
            {"AttributeName": f"{name}pk", "KeyType": "HASH"},
            {"AttributeName": f"{name}sk", "KeyType": "RANGE"},
        ]
        assert index["Projection"] == {"ProjectionType": "ALL"}


def test_ttl_stream_pitr_billing(template: dict[str, Any]) -> None:
    props = table_properties(template)
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_encrypted_with_the_stacks_rotating_key(template: dict[str, Any]) -> None:
    sse = table_properties(template)["SSESpecification"]
    assert sse["SSEEnabled"] is True
    assert sse["SSEType"] == "KMS"
    key_id = sse["KMSMasterKeyId"]["Fn::GetAtt"][0]
    key = template["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True


def test_table_is_retained(template: dict[str, Any]) -> None:
    table = template["Resources"]["WalletsTable"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True
