"""Who is calling: the Principal from the authorizer's context, role guards, and JWT verification."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.errors import Forbidden, Unauthorized
from shared.models.common import is_identifier

if TYPE_CHECKING:
    from jwt import PyJWKClient

ROLES = frozenset({"consumer", "merchant", "admin", "operator"})
# `operator` runs the platform: the reserve, reconciliations, provider history and the `platform` channel
# span every tenant, so they are the operator's alone (a tenant's admin sees its own tenant only).
CONSUMER, MERCHANT, ADMIN, OPERATOR = "consumer", "merchant", "admin", "operator"
# Ids the platform itself stands behind: `link-payer` is the customer of an invoice paid through its link,
# `link:<invoice>` the subject of a payment-link caller, `treasury` the holder of a tenant's treasury
# deposits (shared/treasury). A JWT naming one would act as that payer or holder.
LINK_PAYER = "link-payer"
LINK_SUBJECT_PREFIX = "link:"
TREASURY_HOLDER = "treasury"


def is_reserved_subject(sub: str) -> bool:
    return sub in (LINK_PAYER, TREASURY_HOLDER) or sub.startswith(LINK_SUBJECT_PREFIX)


@dataclass(frozen=True)
class Principal:
    """The caller. A payment-link caller (the payer holding `/public/pay/{token}`) carries the invoice and
    wallet its link names and may act on that wallet only; every other route refuses it."""

    sub: str
    tenant_id: str
    roles: frozenset[str]
    link_invoice_id: str | None = None
    link_wallet_id: str | None = None
    # The token's `exp` (Unix seconds): carried in the authorizer context so that a cached authorization
    # never outlives its token (see `principal_from_event`).
    expires_at: int | None = field(default=None, compare=False)

    @property
    def is_link(self) -> bool:
        return self.link_wallet_id is not None

    def has_any(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)

    def to_context(self) -> dict[str, str]:
        """The authorizer context form: scalars only, roles comma-joined."""
        context = {"sub": self.sub, "tenant_id": self.tenant_id, "roles": ",".join(sorted(self.roles))}
        if self.expires_at is not None:
            context["exp"] = str(self.expires_at)
        if self.link_wallet_id is not None:
            context["link_invoice_id"] = self.link_invoice_id or ""
            context["link_wallet_id"] = self.link_wallet_id
        return context


def _split_roles(raw: Any) -> frozenset[str]:
    if isinstance(raw, str):
        items: Iterable[Any] = raw.split(",")
    elif isinstance(raw, list | tuple):
        items = raw
    else:
        raise Unauthorized("token roles are missing")
    roles = frozenset(item.strip() for item in items if isinstance(item, str) and item.strip())
    if not roles or not roles <= ROLES:
        raise Unauthorized("token roles are missing or unknown")
    return roles


def principal_from_claims(sub: Any, tenant_id: Any, roles: Any) -> Principal:
    """Validate the three identity claims; anything off is Unauthorized."""
    if not isinstance(sub, str) or not is_identifier(sub):
        raise Unauthorized("token subject is missing or malformed")
    if not isinstance(tenant_id, str) or not is_identifier(tenant_id):
        raise Unauthorized("token tenant is missing or malformed")
    return Principal(sub=sub, tenant_id=tenant_id, roles=_split_roles(roles))


def _expiry_of(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(str(raw))
    except ValueError:
        raise Unauthorized("token expiry is malformed") from None


def principal_from_event(
    event: Mapping[str, Any], *, allow_link: bool = False, now: Callable[[], float] = time.time
) -> Principal:
    """The caller as the API Gateway authorizer described it in `requestContext.authorizer`.

    API Gateway may answer from its authorizer cache for up to the authorizer's TTL (infra/api.py), which
    a TOKEN authorizer cannot shorten per token; so the context carries the token's `exp`, and a cached
    authorization is refused here (401) once that moment has passed: no request runs on an expired token.
    A context without `exp` comes only from hand-built events (our authorizer always sets it).

    A payment-link caller is refused (403) unless the route takes links (`allow_link`: fund and pay)."""
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    principal = principal_from_claims(context.get("sub"), context.get("tenant_id"), context.get("roles"))
    expires_at = _expiry_of(context.get("exp"))
    if expires_at is not None and expires_at <= now():
        raise Unauthorized("token is expired")
    link_wallet = context.get("link_wallet_id")
    if not link_wallet:
        if is_reserved_subject(principal.sub):
            raise Unauthorized("token subject is reserved")
        return principal
    if not allow_link:
        raise Forbidden("a payment link may only fund and pay its own wallet")
    link_invoice = context.get("link_invoice_id")
    if not (isinstance(link_wallet, str) and is_identifier(link_wallet)):
        raise Unauthorized("payment link scope is malformed")
    if not (isinstance(link_invoice, str) and is_identifier(link_invoice)):
        raise Unauthorized("payment link scope is malformed")
    return Principal(
        principal.sub, principal.tenant_id, principal.roles, link_invoice, link_wallet, expires_at
    )


def require_role(principal: Principal, *roles: str) -> None:
    if not principal.has_any(*roles):
        raise Forbidden(f"this action needs one of the roles: {', '.join(sorted(roles))}")


class JwtVerifier:
    """Verifies bearer tokens: HS256 with a shared secret (local) or RS256 against a JWKS (Cognito).

    Exactly one algorithm is accepted per mode, so `alg: none` or an HS256 token signed with the public
    key can never pass. `exp` is required in both modes.
    """

    def __init__(
        self,
        *,
        secret: Callable[[], str] | None = None,
        jwks_url: str = "",
        issuer: str = "",
        audience: str = "",
        leeway_seconds: int = 30,
    ) -> None:
        if secret is None and not jwks_url:
            raise ValueError("JwtVerifier needs a secret or a JWKS URL")
        self._secret = secret
        self._issuer = issuer or None
        self._audience = audience
        self._leeway = leeway_seconds
        self._jwks: PyJWKClient | None = None
        if secret is None:
            from jwt import PyJWKClient  # deferred: only the authorizer pays for the crypto import

            self._jwks = PyJWKClient(jwks_url, cache_keys=True, lifespan=3600, timeout=5)

    def verify(self, token: str, now: Callable[[], float] = time.time) -> Principal:
        import jwt

        if not token or len(token) > 8192:
            raise Unauthorized("token is missing or too long")
        try:
            if self._jwks is not None:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                algorithm = "RS256"
            else:
                assert self._secret is not None
                key, algorithm = self._secret(), "HS256"
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized("token is invalid or expired") from exc
        self._check_audience(claims)
        # The leeway above forgives clock skew on `iat`/`nbf`; a token is never honoured past its `exp`.
        expires_at = int(claims["exp"])
        if expires_at <= now():
            raise Unauthorized("token is expired")
        principal = principal_from_claims(
            claims.get("sub"),
            claims.get("tenant_id", claims.get("custom:tenant_id")),
            claims.get("roles", claims.get("cognito:groups")),
        )
        if is_reserved_subject(principal.sub):
            raise Unauthorized("token subject is reserved")
        return Principal(principal.sub, principal.tenant_id, principal.roles, expires_at=expires_at)

    def _check_audience(self, claims: dict[str, Any]) -> None:
        # Cognito ID tokens carry `aud`; its access tokens carry `client_id` instead and no `aud`.
        if not self._audience:
            return
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if self._audience not in audiences:
            raise Unauthorized("token audience does not match")


def secret_from_string(raw: str) -> str:
    """The HMAC secret out of a Secrets Manager value: the plain string, or `jwt_secret` of a JSON object."""
    text = raw.strip()
    if text.startswith("{"):
        value = json.loads(text).get("jwt_secret")
        if not isinstance(value, str) or not value:
            raise ValueError("JSON secret has no jwt_secret")
        return value
    return text


# -- what a Lambda authorizer reads off API Gateway's event ------------------------------------------
_METHOD_ARN = re.compile(r"^(arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+/[A-Za-z0-9_-]+)/.*$")


def token_of(event: dict[str, Any]) -> str:
    if event.get("type") == "TOKEN":
        header = event.get("authorizationToken") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized("expected a Bearer token")
        return token.strip()
    query = event.get("queryStringParameters") or {}
    token = query.get("token")
    return token.strip() if isinstance(token, str) else ""


def api_wide_resource(method_arn: str) -> str:
    """`.../{apiId}/{stage}/*`: the policy then covers every route, so a cached answer serves them all."""
    match = _METHOD_ARN.fullmatch(method_arn or "")
    if match is None:
        raise Unauthorized("unexpected methodArn")
    return f"{match.group(1)}/*"
