"""Encryption keys, secrets and the Cognito user pool that deployed clients sign in with."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

USER_GROUPS = ("merchant", "consumer", "admin", "operator")
TENANT_ATTRIBUTE = "tenant_id"


# Values operators set after the first deploy (from the Stripe and providers' dashboards), by secret.
STRIPE_SECRET_KEYS = ("stripe_secret_key", "stripe_webhook_secret")
PROVIDER_SECRET_KEYS = ("tempo_api_key", "circle_api_key")
# The encryption context every use of the wallet key must carry (shared.crypto.envelope binds each data key to
# its wallet), and the shape of the wallet ids it names (shared.ids).
WALLET_CONTEXT_KEY = "kms:EncryptionContext:wallet_id"
WALLET_ID_PATTERN = "wal_*"
WALLET_KEY_USE = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*")
# The same for the webhook key: every use names the endpoint whose signing secret it seals or opens.
WEBHOOK_CONTEXT_KEY = "kms:EncryptionContext:webhook_endpoint_id"
WEBHOOK_ENDPOINT_PATTERN = "we_*"


class Security(Construct):
    """The stack's KMS key, the wallet key, the secrets and the Cognito user pool.

    `Key` encrypts the tables, secrets, queues and alarm topic. `WalletKey` does one thing: it wraps the data
    keys of wallets' private keys (envelope encryption), and only the role that makes wallet keys may use it,
    always under the wallet's encryption context (`confine_wallet_key`). `WebhookKey` seals merchants' webhook
    signing secrets, each under its endpoint's id; only the functions that make and sign with them may use
    it (`confine_webhook_key`).

    One secret per reader, so a function reads only what its code needs: `JwtSecret` (HS256 key of the local
    mode's tokens), `PaymentLinkSecret` (HMAC key of `/public/pay/{token}` links, generated here),
    `StripeSecret` (STRIPE_SECRET_KEYS) and `ProvidersSecret` (PROVIDER_SECRET_KEYS). The Stripe and provider
    values are created empty and must be set by an operator after the first deploy (`aws secretsmanager
    put-secret-value` with the whole JSON), since they come from the services' dashboards.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description="Monay Wallets: tables, secrets, queues, alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms publish to the KMS-encrypted alarm topic; SNS needs the key on their behalf.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseKeyForAlarmTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.wallet_key = kms.Key(
            self,
            "WalletKey",
            description="Monay Wallets: wraps wallets' private-key data keys (wallet_id encryption context)",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.webhook_key = kms.Key(
            self,
            "WebhookKey",
            description="Monay Wallets: seals webhook signing secrets (endpoint id encryption context)",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.jwt_secret = secretsmanager.Secret(
            self,
            "JwtSecret",
            description="HS256 signing key of locally issued JWTs",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
        )
        self.payment_link_secret = secretsmanager.Secret(
            self,
            "PaymentLinkSecret",
            description="HMAC key of payment links (/public/pay/{token})",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
        )
        self.stripe_secret = self._operator_secret(
            "StripeSecret",
            "Stripe secret key and webhook signing secret (set by operators)",
            STRIPE_SECRET_KEYS,
        )
        self.providers_secret = self._operator_secret(
            "ProvidersSecret", "Tempo and Circle API keys (set by operators)", PROVIDER_SECRET_KEYS
        )
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            custom_attributes={
                TENANT_ATTRIBUTE: cognito.StringAttribute(min_len=1, max_len=64, mutable=False)
            },
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            # Accounts move money: a second factor is required, TOTP only (no SMS role or SIM-swap risk).
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.user_pool_client = self.user_pool.add_client(
            "AppClient",
            auth_flows=cognito.AuthFlow(user_srp=True),
            generate_secret=False,
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            read_attributes=cognito.ClientAttributes()
            .with_standard_attributes(email=True)
            .with_custom_attributes(TENANT_ATTRIBUTE),
        )
        for group in USER_GROUPS:
            cognito.CfnUserPoolGroup(
                self, f"Group{group.title()}", user_pool_id=self.user_pool.user_pool_id, group_name=group
            )

    def _operator_secret(
        self, construct_id: str, description: str, keys: tuple[str, ...]
    ) -> secretsmanager.Secret:
        return secretsmanager.Secret(
            self,
            construct_id,
            description=description,
            encryption_key=self.key,
            # Empty placeholders for operators to fill; no secret value lives in code.
            secret_object_value={name: SecretValue.unsafe_plain_text("") for name in keys},
        )

    def confine_wallet_key(self, key_makers: list[iam.IRole]) -> None:
        """Deny any use of the wallet key but `key_makers`', and any outside a wallet's encryption context.

        The key policy's default statement delegates to IAM, so an account principal with a broad `kms:*`
        grant could otherwise decrypt wrapped wallet keys; these denies hold whatever IAM grants.
        """
        self.wallet_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyWalletKeyUseButTheKeyMaker",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(WALLET_KEY_USE),
                resources=["*"],
                conditions={"StringNotEquals": {"aws:PrincipalArn": [role.role_arn for role in key_makers]}},
            )
        )
        self.wallet_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyWalletKeyUseOutsideAWalletContext",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(WALLET_KEY_USE),
                resources=["*"],
                conditions={"StringNotLike": {WALLET_CONTEXT_KEY: WALLET_ID_PATTERN}},
            )
        )

    def confine_webhook_key(self, users: list[iam.IRole]) -> None:
        """Deny any use of the webhook key but `users`', and any outside an endpoint's encryption context."""
        self.webhook_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyWebhookKeyUseButTheEndpointFunctions",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(WALLET_KEY_USE),
                resources=["*"],
                conditions={"StringNotEquals": {"aws:PrincipalArn": [role.role_arn for role in users]}},
            )
        )
        self.webhook_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyWebhookKeyUseOutsideAnEndpointContext",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=list(WALLET_KEY_USE),
                resources=["*"],
                conditions={"StringNotLike": {WEBHOOK_CONTEXT_KEY: WEBHOOK_ENDPOINT_PATTERN}},
            )
        )

    @property
    def jwt_issuer(self) -> str:
        stack = Stack.of(self)
        return f"https://cognito-idp.{stack.region}.{stack.url_suffix}/{self.user_pool.user_pool_id}"

    @property
    def jwt_jwks_url(self) -> str:
        return f"{self.jwt_issuer}/.well-known/jwks.json"

    @property
    def jwt_audience(self) -> str:
        return self.user_pool_client.user_pool_client_id
