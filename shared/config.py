"""Process configuration: every environment variable the functions read, validated once at import."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_CORS_ORIGINS = (
    "http://localhost:3000,http://localhost:3002,http://localhost:3003,http://localhost:3007"
)


class Settings(BaseModel):
    """Settings of one function process. Defaults are the local ones; the stack sets the deployed values.

    A plain pydantic model over `os.environ` rather than pydantic-settings: the variables are all flat strings
    named by their aliases, and pydantic-settings alone cost about as much to import as boto3 (half of a
    function's cold start budget) for features (dotenv, nested sources) we do not use.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    table_name: str = Field(default="WalletsTable", alias="TABLE_NAME")
    # Wallets' sealed private keys, apart from the main table (no stream, no PITR: erasing is final).
    key_table_name: str = Field(default="WalletKeysTable", alias="KEY_TABLE_NAME")
    event_bus_name: str = Field(default="default", alias="EVENT_BUS_NAME")
    # The wallet key: wraps the data key of each wallet's private keys (only wallet creation has it).
    kms_key_id: str = Field(default="", alias="KMS_KEY_ID")
    # The webhook key: seals endpoints' signing secrets (webhook_endpoints seals, webhook_delivery opens).
    webhook_key_id: str = Field(default="", alias="WEBHOOK_KEY_ID")
    schedule_group_name: str = Field(default="default", alias="SCHEDULE_GROUP_NAME")
    scheduler_role_arn: str = Field(default="", alias="SCHEDULER_ROLE_ARN")
    destroy_function_arn: str = Field(default="", alias="DESTROY_FUNCTION_ARN")
    scheduler_dlq_arn: str = Field(default="", alias="SCHEDULER_DLQ_ARN")
    jwt_secret_arn: str = Field(default="", alias="JWT_SECRET_ARN")
    jwt_issuer: str = Field(default="", alias="JWT_ISSUER")
    jwt_jwks_url: str = Field(default="", alias="JWT_JWKS_URL")
    jwt_audience: str = Field(default="", alias="JWT_AUDIENCE")
    # One secret per concern, so each function reads only what it uses (infra/security.py).
    payment_link_secret_arn: str = Field(default="", alias="PAYMENT_LINK_SECRET_ARN")
    stripe_secret_arn: str = Field(default="", alias="STRIPE_SECRET_ARN")
    providers_secret_arn: str = Field(default="", alias="PROVIDERS_SECRET_ARN")
    ws_callback_url: str = Field(default="", alias="WS_CALLBACK_URL")
    # The invoice import worker's queue (functions/invoice_imports), for the function that accepts imports.
    import_queue_url: str = Field(default="", alias="IMPORT_QUEUE_URL")
    cors_origins_csv: str = Field(default=DEFAULT_CORS_ORIGINS, alias="CORS_ORIGINS")
    public_base_url: str = Field(default="http://127.0.0.1:3001", alias="PUBLIC_BASE_URL")
    service_name: str = Field(default="wallets", alias="POWERTOOLS_SERVICE_NAME")
    stripe_api_base: str = Field(default="", alias="STRIPE_API_BASE")
    tempo_api_base: str = Field(default="", alias="TEMPO_API_BASE")
    circle_api_base: str = Field(default="", alias="CIRCLE_API_BASE")
    # The company cardholder Stripe Issuing verifies for each tenant (until tenants carry their own profile).
    cardholder_name: str = Field(default="Monay Wallets merchant", alias="ISSUING_CARDHOLDER_NAME")
    cardholder_email: str = Field(default="issuing@monay.example", alias="ISSUING_CARDHOLDER_EMAIL")
    cardholder_line1: str = Field(default="548 Market St", alias="ISSUING_CARDHOLDER_LINE1")
    cardholder_city: str = Field(default="San Francisco", alias="ISSUING_CARDHOLDER_CITY")
    cardholder_state: str = Field(default="CA", alias="ISSUING_CARDHOLDER_STATE")
    cardholder_postal_code: str = Field(default="94104", alias="ISSUING_CARDHOLDER_POSTAL_CODE")
    cardholder_country: str = Field(default="US", alias="ISSUING_CARDHOLDER_COUNTRY")
    # Webhooks may go to http://127.0.0.1 (the local runtime sets it); deployed, only https to public hosts.
    webhook_allow_loopback: bool = Field(default=False, alias="WEBHOOK_ALLOW_LOOPBACK")
    # The function webhook retry timers invoke (webhook_delivery names itself from its context instead).
    webhook_delivery_function_arn: str = Field(default="", alias="WEBHOOK_DELIVERY_FUNCTION_ARN")
    # The function scheduled payouts' timers invoke (payout_worker), given to the payouts function.
    payout_worker_function_arn: str = Field(default="", alias="PAYOUT_WORKER_FUNCTION_ARN")
    clock_speed: float = Field(default=1.0, gt=0, alias="WALLETS_SPEED")
    clock_origin: float = Field(default=0.0, ge=0, alias="WALLETS_CLOCK_ORIGIN")
    # Consumer valuation: USD per unit of each non-USD reserve currency and when the source published it,
    # `EUR=1.0850@2030-01-01T00:00:00Z` (comma-separated). Empty: no rate, and valuing EURC answers 503.
    usd_rates: str = Field(default="", alias="USD_RATES")
    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")
    # How many items the ledger's running totals (reserve, supply, counters) are spread over; each takes
    # about 1,000 writes a second. May change at any time: readers always read every possible shard.
    # Bounds and default are shared.ledger.shards' MAX_SHARDS/DEFAULT_SHARDS (not imported: cold starts).
    ledger_shards: int = Field(default=10, ge=1, le=100, alias="LEDGER_SHARDS")

    @property
    def cors_origins(self) -> tuple[str, ...]:
        return tuple(origin.strip() for origin in self.cors_origins_csv.split(",") if origin.strip())


def from_environment() -> Settings:
    """The settings from this process's environment variables, validated."""
    return Settings.model_validate(dict(os.environ))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return from_environment()
