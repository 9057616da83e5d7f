"""Encryption key, secrets and the Cognito user pool that deployed clients sign in with."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

USER_GROUPS = ("merchant", "consumer", "admin", "operator")
TENANT_ATTRIBUTE = "tenant_id"


# AppSecret keys that operators fill after the first deploy (they come from the providers' dashboards).
OPERATOR_SECRET_KEYS = ("stripe_secret_key", "stripe_webhook_secret", "tempo_api_key", "circle_api_key")


class Security(Construct):
    """The stack's KMS key, the `JwtSecret` and `AppSecret` secrets, and the Cognito user pool.

    `AppSecret` is one JSON secret with OPERATOR_SECRET_KEYS and `payment_link_secret`. Only
    `payment_link_secret` (the HMAC key of `/public/pay/{token}` links) is generated here; the Stripe and
    provider values are created empty and must be set by an operator after the first
    deploy (`aws secretsmanager put-secret-value` with the whole JSON), since they come from the Stripe
    dashboard. `JwtSecret` is the HS256 key used by the local runtime's tokens (context `wallets:local`).
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description="Monay Wallets: table, secrets, wrapped wallet keys, alarm topic",
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
        self.jwt_secret = secretsmanager.Secret(
            self,
            "JwtSecret",
            description="HS256 signing key of locally issued JWTs",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
        )
        self.app_secret = secretsmanager.Secret(
            self,
            "AppSecret",
            description="Stripe keys (set by operators) and the generated payment-link HMAC key",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                # Empty placeholders for operators to fill; no secret value lives in code.
                secret_string_template=json.dumps(dict.fromkeys(OPERATOR_SECRET_KEYS, "")),
                generate_string_key="payment_link_secret",
                password_length=64,
                exclude_punctuation=True,
            ),
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
