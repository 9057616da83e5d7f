"""The one DynamoDB table (keys, GSIs, TTL, stream) that every access pattern of the domain uses."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

TABLE_LOGICAL_ID = "WalletsTable"
GSI_NAMES = ("gsi1", "gsi2", "gsi3")
TTL_ATTRIBUTE = "ttl"


class Data(Construct):
    """`WalletsTable`: pk/sk, gsi1..gsi3 (projection ALL), TTL `ttl`, NEW_AND_OLD_IMAGES stream."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.Table(
            self,
            "WalletsTable",
            partition_key=dynamodb.Attribute(name="pk", type=string),
            sort_key=dynamodb.Attribute(name="sk", type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            # The stream is the outbox and the TTL trigger: both consumers need the old and new images.
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            deletion_protection=True,
            # Ledger, audit and destruction logs live here: deleting the stack must never delete them.
            removal_policy=RemovalPolicy.RETAIN,
        )
        for name in GSI_NAMES:
            self.table.add_global_secondary_index(
                index_name=name,
                partition_key=dynamodb.Attribute(name=f"{name}pk", type=string),
                sort_key=dynamodb.Attribute(name=f"{name}sk", type=string),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        table_resource = self.table.node.default_child
        assert isinstance(table_resource, dynamodb.CfnTable)
        # A stable logical id: the local runtime and the integration tests find the table by it.
        table_resource.override_logical_id(TABLE_LOGICAL_ID)
