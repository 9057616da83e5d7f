"""Key isolation, function by function: who may use which KMS key (under which condition), who reads which
secret, who touches the wallet key table, and that erasing from that table is final (no stream, no PITR).
The webhook key seals merchants' signing secrets: only the endpoints function (seal, and open for an
idempotent replay) and the delivery function (open, to sign) use it, each under an endpoint's context."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra.conftest import as_list, function_ids, role_statements
from tests.support.template import resources_of_type, table_properties

KEY_TABLE = "WalletKeysTable"
FOLDERS = (
    "authorizer",
    "health",
    "invoices",
    "create_wallet",
    "wallets",
    "fund",
    "pay",
    "destroy",
    "reconcile",
    "providers",
    "consumer",
    "consumer_kyc",
    "consumer_transfers",
    "consumer_swaps",
    "consumer_requests",
    "consumer_money",
    "events",
    "webhook_endpoints",
    "webhook_delivery",
    "webhooks",
    "realtime",
    "stream",
    "sweeper",
    "invoice_batches",
    "invoice_schedules",
    "audit_views",
    "invoice_imports",
    "payouts",
    "payout_worker",
)
# The secrets each function's code reads (shared/bootstrap/adapters.py, functions/authorizer), nothing more.
EXPECTED_SECRETS: dict[str, set[str]] = {
    # Local-mode JWTs and payment-link tokens; never a Stripe or provider key.
    "authorizer": {"JwtSecret", "PaymentLinkSecret"},
    "health": set(),
    "invoices": set(),
    "create_wallet": {"StripeSecret", "PaymentLinkSecret"},
    "wallets": {"StripeSecret"},
    "fund": {"StripeSecret", "ProvidersSecret"},
    "pay": {"StripeSecret", "ProvidersSecret", "PaymentLinkSecret"},
    "destroy": {"StripeSecret", "ProvidersSecret"},
    "reconcile": {"ProvidersSecret"},
    "providers": {"ProvidersSecret"},
    "consumer": set(),
    "consumer_kyc": {"StripeSecret"},
    "consumer_transfers": {"ProvidersSecret"},
    "consumer_swaps": {"ProvidersSecret"},
    "consumer_requests": set(),
    "consumer_money": {"StripeSecret", "ProvidersSecret"},
    "events": set(),
    "webhook_endpoints": set(),
    "webhook_delivery": set(),
    "webhooks": {"StripeSecret", "ProvidersSecret"},
    "realtime": set(),
    "stream": set(),
    "sweeper": {"StripeSecret", "ProvidersSecret"},
    "invoice_batches": set(),
    "invoice_schedules": set(),
    "invoice_imports": set(),
    "audit_views": set(),
    # The treasury's deposits (Stripe) and the payouts' provider transfers.
    "payouts": {"StripeSecret", "ProvidersSecret", "PaymentLinkSecret"},
    "payout_worker": {"ProvidersSecret", "PaymentLinkSecret"},
}
# Exactly these DynamoDB actions on the wallet key table: creation puts the sealed keys, destruction (run by
# destroy, and by pay when it completes an ephemeral wallet's invoice) reads them and removes the wrapped key.
EXPECTED_KEY_TABLE_ACTIONS: dict[str, set[str]] = {
    "create_wallet": {"dynamodb:PutItem"},
    "consumer": {"dynamodb:PutItem"},
    "payouts": {"dynamodb:PutItem"},
    "payout_worker": {"dynamodb:PutItem"},
    "pay": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    "destroy": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    "sweeper": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
}
# Wallet creation, consumer onboarding (the person's persistent wallet), the treasury's wallet and payroll
# claim wallets.
KEY_MAKERS = ("create_wallet", "consumer", "payouts", "payout_worker")
WALLET_CONTEXT = {
    "StringLike": {"kms:EncryptionContext:wallet_id": "wal_*"},
    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["wallet_id"]},
}
# What each function may do with the webhook key (infra/functions.py WebhookSecretAccess).
WEBHOOK_KEY_ACTIONS = {
    "webhook_endpoints": ["kms:Encrypt", "kms:Decrypt"],
    "webhook_delivery": ["kms:Decrypt"],
}
WEBHOOK_CONTEXT = {
    "StringLike": {"kms:EncryptionContext:webhook_endpoint_id": "we_*"},
    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["webhook_endpoint_id"]},
}
_CDK_HASH = re.compile(r"[0-9A-F]{8}$")


def construct_name(logical_id: str) -> str:
    """`SecurityStripeSecretA1B2C3D4` -> `StripeSecret`."""
    return _CDK_HASH.sub("", logical_id).removeprefix("Security")


def keys_by_name(template: dict[str, Any]) -> dict[str, str]:
    return {construct_name(lid): lid for lid in resources_of_type(template, "AWS::KMS::Key")}


def referenced_ids(value: Any) -> set[str]:
    """Logical ids a Ref or GetAtt (anywhere inside `value`) points at."""
    text = json.dumps(value)
    return set(re.findall(r'"Ref": "([A-Za-z0-9]+)"', text)) | set(
        re.findall(r'"Fn::GetAtt": \["([A-Za-z0-9]+)"', text)
    )


def kms_grants(template: dict[str, Any], folder: str, key_id: str) -> list[dict[str, Any]]:
    return [
        s
        for s in role_statements(template, function_ids(template)[folder])
        if any(a.startswith("kms:") for a in as_list(s["Action"]))
        and key_id in referenced_ids(s["Resource"])
        and s.get("Effect", "Allow") == "Allow"
    ]


def secrets_read(template: dict[str, Any], folder: str) -> set[str]:
    secret_ids = set(resources_of_type(template, "AWS::SecretsManager::Secret"))
    read: set[str] = set()
    for statement in role_statements(template, function_ids(template)[folder]):
        if "secretsmanager:GetSecretValue" in as_list(statement["Action"]):
            read |= referenced_ids(statement["Resource"]) & secret_ids
    return {construct_name(lid) for lid in read}


def key_table_actions(template: dict[str, Any], folder: str) -> set[str]:
    actions: set[str] = set()
    for statement in role_statements(template, function_ids(template)[folder]):
        if KEY_TABLE in referenced_ids(statement["Resource"]):
            actions |= set(as_list(statement["Action"]))
    return actions


def test_every_function_is_covered(template: dict[str, Any]) -> None:
    assert sorted(function_ids(template)) == sorted(FOLDERS)


def test_wallet_keys_are_wrapped_by_their_own_key(template: dict[str, Any]) -> None:
    keys = keys_by_name(template)
    assert sorted(keys) == ["Key", "WalletKey", "WebhookKey"]
    wallet_key = template["Resources"][keys["WalletKey"]]
    assert wallet_key["Properties"]["EnableKeyRotation"] is True
    env = template["Resources"][function_ids(template)["create_wallet"]]["Properties"]["Environment"]
    assert referenced_ids(env["Variables"]["KMS_KEY_ID"]) == {keys["WalletKey"]}
    # The wallet key encrypts nothing else: no table, secret, queue or topic names it.
    for lid, resource in template["Resources"].items():
        if resource["Type"].startswith(
            ("AWS::DynamoDB::", "AWS::SecretsManager::", "AWS::SQS::", "AWS::SNS::")
        ):
            assert keys["WalletKey"] not in referenced_ids(resource.get("Properties", {})), lid


@pytest.mark.parametrize("folder", FOLDERS)
def test_only_wallet_creation_uses_the_wallet_key_under_a_wallet_context(
    template: dict[str, Any], folder: str
) -> None:
    grants = kms_grants(template, folder, keys_by_name(template)["WalletKey"])
    if folder not in KEY_MAKERS:
        assert grants == []
        return
    # Nothing unwraps a wallet's data key (no function signs with wallet keys): GenerateDataKey only.
    assert [as_list(g["Action"]) for g in grants] == [["kms:GenerateDataKey"]]
    assert grants[0]["Condition"] == WALLET_CONTEXT


def test_wallet_key_policy_denies_everyone_but_the_key_maker(template: dict[str, Any]) -> None:
    keys = keys_by_name(template)
    statements = template["Resources"][keys["WalletKey"]]["Properties"]["KeyPolicy"]["Statement"]
    denies = {s["Sid"]: s for s in statements if s["Effect"] == "Deny"}
    use = {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"}
    maker = denies["DenyWalletKeyUseButTheKeyMaker"]
    assert maker["Principal"] == {"AWS": "*"} and set(maker["Action"]) == use
    ids = function_ids(template)
    roles = [template["Resources"][ids[folder]]["Properties"]["Role"] for folder in KEY_MAKERS]
    assert maker["Condition"] == {"StringNotEquals": {"aws:PrincipalArn": roles}}
    context = denies["DenyWalletKeyUseOutsideAWalletContext"]
    assert context["Principal"] == {"AWS": "*"} and set(context["Action"]) == use
    assert context["Condition"] == {"StringNotLike": {"kms:EncryptionContext:wallet_id": "wal_*"}}


@pytest.mark.parametrize("folder", FOLDERS)
def test_stack_key_grants_follow_table_access(template: dict[str, Any], folder: str) -> None:
    """The stack key encrypts the tables (and their stream): a role holds it exactly when it uses either."""
    grants = kms_grants(template, folder, keys_by_name(template)["Key"])
    env = template["Resources"][function_ids(template)[folder]]["Properties"]["Environment"]["Variables"]
    assert bool(grants) == bool({"TABLE_NAME", "KEY_TABLE_NAME"} & set(env) or folder == "stream")


def test_stack_key_decrypts_secrets_only_through_secrets_manager_for_their_readers(
    template: dict[str, Any],
) -> None:
    statements = template["Resources"][keys_by_name(template)["Key"]]["Properties"]["KeyPolicy"]["Statement"]
    roles = {
        template["Resources"][lid]["Properties"]["Role"]["Fn::GetAtt"][0]: folder
        for folder, lid in function_ids(template).items()
    }
    decrypting: set[str] = set()
    for statement in statements:
        principal = statement["Principal"].get("AWS", {})
        role = principal.get("Fn::GetAtt", [None])[0] if isinstance(principal, dict) else None
        if role in roles:
            assert "secretsmanager." in json.dumps(statement["Condition"]["StringEquals"]["kms:ViaService"])
            decrypting.add(roles[role])
    assert decrypting == {folder for folder, names in EXPECTED_SECRETS.items() if names}


@pytest.mark.parametrize("folder", FOLDERS)
def test_each_function_reads_only_its_own_secrets(template: dict[str, Any], folder: str) -> None:
    assert secrets_read(template, folder) == EXPECTED_SECRETS[folder]


def test_secrets_are_split_by_reader(template: dict[str, Any]) -> None:
    names = {construct_name(lid) for lid in resources_of_type(template, "AWS::SecretsManager::Secret")}
    assert names == {"JwtSecret", "PaymentLinkSecret", "StripeSecret", "ProvidersSecret"}


@pytest.mark.parametrize("folder", FOLDERS)
def test_key_table_access_is_creation_and_erase_only(template: dict[str, Any], folder: str) -> None:
    assert key_table_actions(template, folder) == EXPECTED_KEY_TABLE_ACTIONS.get(folder, set())


def test_key_table_keeps_no_copy_of_an_erased_key(template: dict[str, Any]) -> None:
    props = table_properties(template, KEY_TABLE)
    assert "StreamSpecification" not in props
    assert props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is not True
    assert "TimeToLiveSpecification" not in props
    sse = props["SSESpecification"]
    assert referenced_ids(sse["KMSMasterKeyId"]) == {keys_by_name(template)["Key"]}
    table = template["Resources"][KEY_TABLE]
    assert table["DeletionPolicy"] == "Retain" and props["DeletionProtectionEnabled"] is True


@pytest.mark.parametrize("folder", FOLDERS)
def test_only_the_webhook_functions_use_the_webhook_key_under_an_endpoint_context(
    template: dict[str, Any], folder: str
) -> None:
    keys = keys_by_name(template)
    grants = kms_grants(template, folder, keys["WebhookKey"])
    env = template["Resources"][function_ids(template)[folder]]["Properties"]["Environment"]["Variables"]
    if folder not in WEBHOOK_KEY_ACTIONS:
        assert grants == [] and "WEBHOOK_KEY_ID" not in env
        return
    assert [as_list(g["Action"]) for g in grants] == [WEBHOOK_KEY_ACTIONS[folder]]
    assert grants[0]["Condition"] == WEBHOOK_CONTEXT
    assert referenced_ids(env["WEBHOOK_KEY_ID"]) == {keys["WebhookKey"]}


def test_webhook_key_policy_denies_everyone_else_and_any_other_context(template: dict[str, Any]) -> None:
    keys = keys_by_name(template)
    webhook_key = template["Resources"][keys["WebhookKey"]]
    assert webhook_key["Properties"]["EnableKeyRotation"] is True
    statements = webhook_key["Properties"]["KeyPolicy"]["Statement"]
    denies = {s["Sid"]: s for s in statements if s["Effect"] == "Deny"}
    use = {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"}
    users = denies["DenyWebhookKeyUseButTheEndpointFunctions"]
    assert users["Principal"] == {"AWS": "*"} and set(users["Action"]) == use
    ids = function_ids(template)
    roles = [template["Resources"][ids[folder]]["Properties"]["Role"] for folder in WEBHOOK_KEY_ACTIONS]
    assert users["Condition"] == {"StringNotEquals": {"aws:PrincipalArn": roles}}
    context = denies["DenyWebhookKeyUseOutsideAnEndpointContext"]
    assert context["Condition"] == {"StringNotLike": {"kms:EncryptionContext:webhook_endpoint_id": "we_*"}}
    # It seals secrets only: no table, secret, queue or topic is encrypted with it.
    for lid, resource in template["Resources"].items():
        if resource["Type"].startswith(
            ("AWS::DynamoDB::", "AWS::SecretsManager::", "AWS::SQS::", "AWS::SNS::")
        ):
            assert keys["WebhookKey"] not in referenced_ids(resource.get("Properties", {})), lid
