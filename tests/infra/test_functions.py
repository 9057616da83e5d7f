"""Functions: one per folder, runtime, layer, environment and least-privilege grants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.functions import FUNCTION_SPECS, FUNCTIONS_DIR, TableAccess, WalletKeyAccess
from tests.infra.conftest import actions_of, as_list, function_ids, role_statements
from tests.support.template import resources_of_type

FOLDERS = sorted(p.name for p in FUNCTIONS_DIR.iterdir() if (p / "handler.py").is_file())
COMMON_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"}
# What each function's environment holds beyond the Powertools variables (docs/DESIGN.md).
PROVIDER_URLS = {"TEMPO_API_BASE", "CIRCLE_API_BASE"}
STRIPE, PROVIDERS, LINKS = "STRIPE_SECRET_ARN", "PROVIDERS_SECRET_ARN", "PAYMENT_LINK_SECRET_ARN"
SCHEDULES = {"SCHEDULE_GROUP_NAME", "SCHEDULER_ROLE_ARN", "SCHEDULER_DLQ_ARN"}
EXPECTED_ENV = {
    "authorizer": {LINKS, "JWT_SECRET_ARN"},
    "health": {"TABLE_NAME", "CORS_ORIGINS"},
    "invoices": {"TABLE_NAME", "CORS_ORIGINS"},
    "create_wallet": {
        "TABLE_NAME",
        "KEY_TABLE_NAME",
        "KMS_KEY_ID",
        STRIPE,
        LINKS,
        "CORS_ORIGINS",
        "PUBLIC_BASE_URL",
        *SCHEDULES,
        "DESTROY_FUNCTION_ARN",
    },
    "wallets": {"TABLE_NAME", STRIPE, "CORS_ORIGINS"},
    "fund": {"TABLE_NAME", STRIPE, PROVIDERS, "CORS_ORIGINS", *PROVIDER_URLS},
    "pay": {
        "TABLE_NAME",
        "KEY_TABLE_NAME",
        STRIPE,
        PROVIDERS,
        LINKS,
        "CORS_ORIGINS",
        "PUBLIC_BASE_URL",
        *SCHEDULES,
        "DESTROY_FUNCTION_ARN",
        *PROVIDER_URLS,
    },
    "destroy": {"TABLE_NAME", "KEY_TABLE_NAME", STRIPE, PROVIDERS, *SCHEDULES, *PROVIDER_URLS},
    "reconcile": {"TABLE_NAME", PROVIDERS, "CORS_ORIGINS", *PROVIDER_URLS},
    "providers": {"TABLE_NAME", PROVIDERS, "CORS_ORIGINS", *PROVIDER_URLS},
    "consumer": {"TABLE_NAME", "KEY_TABLE_NAME", "KMS_KEY_ID", "CORS_ORIGINS"},
    "consumer_kyc": {"TABLE_NAME", STRIPE, "CORS_ORIGINS"},
    "consumer_transfers": {"TABLE_NAME", PROVIDERS, "CORS_ORIGINS", *PROVIDER_URLS},
    "consumer_swaps": {"TABLE_NAME", PROVIDERS, "CORS_ORIGINS", *PROVIDER_URLS},
    "consumer_requests": {"TABLE_NAME", "CORS_ORIGINS"},
    "consumer_money": {"TABLE_NAME", STRIPE, PROVIDERS, "CORS_ORIGINS", *PROVIDER_URLS},
    "events": {"TABLE_NAME", "CORS_ORIGINS"},
    "webhook_endpoints": {"TABLE_NAME", "CORS_ORIGINS", "WEBHOOK_KEY_ID"},
    "webhook_delivery": {"TABLE_NAME", "CORS_ORIGINS", *SCHEDULES, "DESTROY_FUNCTION_ARN", "WEBHOOK_KEY_ID"},
    "webhooks": {"TABLE_NAME", STRIPE, PROVIDERS, "CORS_ORIGINS", *PROVIDER_URLS},
    "realtime": {"TABLE_NAME", "WS_CALLBACK_URL"},
    "invoice_batches": {"TABLE_NAME", "CORS_ORIGINS", "IMPORT_QUEUE_URL"},
    "invoice_imports": {"TABLE_NAME"},
    "invoice_schedules": {"TABLE_NAME"},
    "audit_views": {"TABLE_NAME", "CORS_ORIGINS"},
    # The treasury's wallet (keys), deposits (Stripe, providers), scheduled payouts' timers.
    "payouts": {
        "TABLE_NAME",
        "KEY_TABLE_NAME",
        "KMS_KEY_ID",
        STRIPE,
        PROVIDERS,
        "CORS_ORIGINS",
        *SCHEDULES,
        "DESTROY_FUNCTION_ARN",
        "PAYOUT_WORKER_FUNCTION_ARN",
        LINKS,
        "PUBLIC_BASE_URL",
        *PROVIDER_URLS,
    },
    # Payroll claim wallets (keys, their destruction schedules, their links) and provider transfers.
    "payout_worker": {
        "TABLE_NAME",
        "KEY_TABLE_NAME",
        "KMS_KEY_ID",
        PROVIDERS,
        LINKS,
        "PUBLIC_BASE_URL",
        *SCHEDULES,
        "DESTROY_FUNCTION_ARN",
        *PROVIDER_URLS,
    },
    "stream": {"EVENT_BUS_NAME"},
    # Finishes destructions (so it erases keys) and funding claims (Stripe and the providers).
    "sweeper": {
        "TABLE_NAME",
        "KEY_TABLE_NAME",
        STRIPE,
        PROVIDERS,
        *SCHEDULES,
        "DESTROY_FUNCTION_ARN",
        *PROVIDER_URLS,
    },
}


def props_of(template: dict[str, Any], folder: str) -> dict[str, Any]:
    return dict(template["Resources"][function_ids(template)[folder]]["Properties"])


def test_one_function_per_folder(template: dict[str, Any]) -> None:
    assert sorted(function_ids(template)) == FOLDERS == sorted(FUNCTION_SPECS) == sorted(EXPECTED_ENV)


@pytest.mark.parametrize("folder", FOLDERS)
def test_runtime_handler_tracing_layer(template: dict[str, Any], folder: str) -> None:
    props = props_of(template, folder)
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "handler.lambda_handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    layers = resources_of_type(template, "AWS::Lambda::LayerVersion")
    assert props["Layers"] == [{"Ref": next(iter(layers))}]
    assert props["Timeout"] <= (28 if FUNCTION_SPECS[folder].rest_api else 300)
    env = props["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == folder
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "MonayWallets"
    assert set(env) == COMMON_ENV | EXPECTED_ENV[folder]


@pytest.mark.parametrize("folder", FOLDERS)
def test_code_asset_is_the_functions_folder(template: dict[str, Any], folder: str) -> None:
    from tests.infra.conftest import TEST_OUTDIR

    resource = template["Resources"][function_ids(template)[folder]]
    staged = TEST_OUTDIR / resource["Metadata"]["aws:asset:path"]
    assert (staged / "handler.py").read_text() == (FUNCTIONS_DIR / folder / "handler.py").read_text()
    assert not (staged / "__pycache__").exists()


def test_layer_asset_holds_shared_at_its_root(template: dict[str, Any]) -> None:
    from tests.infra.conftest import TEST_OUTDIR

    layer = next(iter(resources_of_type(template, "AWS::Lambda::LayerVersion").values()))
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    staged = TEST_OUTDIR / layer["Metadata"]["aws:asset:path"]
    assert sorted(p.name for p in staged.iterdir()) == ["shared"]
    assert (staged / "shared" / "config.py").is_file()
    assert not list(staged.rglob("__pycache__"))


def test_urls_come_from_refs_and_literal_stage(template: dict[str, Any]) -> None:
    ws = props_of(template, "realtime")["Environment"]["Variables"]["WS_CALLBACK_URL"]
    assert ws == {
        "Fn::Join": [
            "",
            [
                "https://",
                {"Ref": "WsApi"},
                ".execute-api.",
                {"Ref": "AWS::Region"},
                ".",
                {"Ref": "AWS::URLSuffix"},
                "/prod",
            ],
        ]
    }
    public = props_of(template, "pay")["Environment"]["Variables"]["PUBLIC_BASE_URL"]
    assert public == {
        "Fn::Join": [
            "",
            [
                "https://",
                {"Ref": "RestApi"},
                ".execute-api.",
                {"Ref": "AWS::Region"},
                ".",
                {"Ref": "AWS::URLSuffix"},
                "/prod",
            ],
        ]
    }


def test_cors_origins_are_the_contract_defaults(template: dict[str, Any]) -> None:
    assert props_of(template, "invoices")["Environment"]["Variables"]["CORS_ORIGINS"] == (
        "http://localhost:3000,http://localhost:3002,http://localhost:3003,http://localhost:3007"
    )


def test_local_mode_authorizer_reads_the_jwt_secret(template: dict[str, Any]) -> None:
    env = props_of(template, "authorizer")["Environment"]["Variables"]
    secret_id = env["JWT_SECRET_ARN"]["Ref"]
    assert template["Resources"][secret_id]["Type"] == "AWS::SecretsManager::Secret"
    statements = role_statements(template, function_ids(template)["authorizer"])
    reads = [s for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
    assert {json.dumps(s["Resource"]) for s in reads} == {
        json.dumps({"Ref": secret_id}),
        json.dumps({"Ref": env["PAYMENT_LINK_SECRET_ARN"]["Ref"]}),
    }


@pytest.mark.parametrize("folder", FOLDERS)
def test_table_grants_match_the_spec(template: dict[str, Any], folder: str) -> None:
    statements = role_statements(template, function_ids(template)[folder])
    dynamo = [s for s in statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    # ListStreams has no resource-level permission (Resource "*"), every other action is scoped below.
    dynamo = [s for s in dynamo if as_list(s["Action"]) != ["dynamodb:ListStreams"]]
    data_actions = actions_of(dynamo) - {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    }
    access = FUNCTION_SPECS[folder].table
    if access is TableAccess.NONE:
        assert data_actions == set()
    elif access is TableAccess.READ:
        assert data_actions and not data_actions & {
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
        }
    else:
        assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"} <= data_actions
    for statement in dynamo:
        for resource in as_list(statement["Resource"]):
            # The wallet key table's grants are tests/infra/test_key_isolation.py's.
            assert "WalletsTable" in json.dumps(resource) or "WalletKeysTable" in json.dumps(resource), (
                folder,
                resource,
            )


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_wildcard_resource_on_data_or_key_actions(template: dict[str, Any], folder: str) -> None:
    for statement in role_statements(template, function_ids(template)[folder]):
        actions = as_list(statement["Action"])
        if actions == ["dynamodb:ListStreams"]:
            continue
        if any(
            a.split(":")[0] in {"dynamodb", "kms", "secretsmanager", "events", "scheduler", "iam"}
            for a in actions
        ):
            assert "*" not in as_list(statement["Resource"]), (folder, statement)


@pytest.mark.parametrize("folder", FOLDERS)
def test_wallet_key_use_only_where_needed(template: dict[str, Any], folder: str) -> None:
    statements = role_statements(template, function_ids(template)[folder])
    # Conditions and the key policy: tests/infra/test_key_isolation.py.
    explicit = [s for s in statements if "SecurityWalletKey" in json.dumps(s["Resource"])]
    if FUNCTION_SPECS[folder].wallet_keys is WalletKeyAccess.MAKE:
        assert len(explicit) == 1
        assert explicit[0]["Resource"]["Fn::GetAtt"][1] == "Arn"
    else:
        assert explicit == []
    assert not any(a.startswith("kms:Create") or a == "kms:*" for a in actions_of(statements))


@pytest.mark.parametrize("folder", FOLDERS)
def test_manage_connections_only_for_realtime(template: dict[str, Any], folder: str) -> None:
    statements = role_statements(template, function_ids(template)[folder])
    manage = [s for s in statements if "execute-api:ManageConnections" in as_list(s["Action"])]
    if folder == "realtime":
        assert len(manage) == 1
        assert {"Ref": "WsApi"} in manage[0]["Resource"]["Fn::Join"][1]
    else:
        assert manage == []
