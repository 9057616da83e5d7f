"""JWT verification and the authorizer's policy: every way a token can be wrong is refused."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import JwtVerifier, Principal, principal_from_event, require_role, secret_from_string
from shared.errors import Forbidden, Unauthorized

SECRET = "local-dev-secret-that-is-long-enough"
CLAIMS = {"sub": "merchant-1", "tenant_id": "tenant-a", "roles": ["merchant"]}


def token(
    claims: dict[str, Any] | None = None, key: str = SECRET, algorithm: str = "HS256", **extra: Any
) -> str:
    body = {**CLAIMS, "exp": int(time.time()) + 300, **(claims or {}), **extra}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm)


def verifier() -> JwtVerifier:
    return JwtVerifier(secret=lambda: SECRET)


def test_valid_token_gives_principal() -> None:
    assert verifier().verify(token()) == Principal("merchant-1", "tenant-a", frozenset({"merchant"}))


def test_comma_string_roles_and_cognito_claims() -> None:
    cognito = {
        "roles": None,
        "tenant_id": None,
        "cognito:groups": ["consumer", "admin"],
        "custom:tenant_id": "t9",
    }
    principal = verifier().verify(token(cognito))
    assert principal.roles == frozenset({"consumer", "admin"}) and principal.tenant_id == "t9"
    assert verifier().verify(token({"roles": "merchant,admin"})).roles == frozenset({"merchant", "admin"})


def _none_alg_token() -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({**CLAIMS, 'exp': int(time.time()) + 300})}."


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda: token(exp=int(time.time()) - 3600), id="expired"),
        pytest.param(lambda: token({"exp": None}), id="no exp"),
        pytest.param(lambda: token(key="another-secret-that-is-long-enough"), id="bad signature"),
        pytest.param(_none_alg_token, id="alg none"),
        pytest.param(lambda: token(algorithm="HS512"), id="wrong algorithm"),
        pytest.param(lambda: token({"sub": None}), id="no sub"),
        pytest.param(lambda: token({"tenant_id": None}), id="no tenant"),
        pytest.param(lambda: token({"tenant_id": "a#b"}), id="tenant with hash"),
        pytest.param(lambda: token({"roles": None}), id="no roles"),
        pytest.param(lambda: token({"roles": ["superuser"]}), id="unknown role"),
        pytest.param(lambda: token({"roles": ["merchant", "root"]}), id="one unknown role"),
        pytest.param(lambda: token({"roles": []}), id="empty roles"),
        pytest.param(lambda: token(exp=int(time.time()) - 5), id="expired within the leeway"),
        pytest.param(lambda: token({"sub": "link-payer", "roles": ["consumer"]}), id="reserved link-payer"),
        pytest.param(lambda: token({"sub": "link:inv_" + "a" * 24}), id="reserved link subject"),
        pytest.param(lambda: token({"sub": "link:"}), id="reserved link prefix"),
        pytest.param(lambda: "not.a.jwt", id="garbage"),
        pytest.param(lambda: "", id="empty"),
    ],
)
def test_bad_tokens_are_unauthorized(bad: Any) -> None:
    with pytest.raises(Unauthorized):
        verifier().verify(bad())


def test_rs256_key_confusion_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rs = JwtVerifier(jwks_url="https://example.invalid/jwks.json", audience="client-1")

    class Key:
        key = private.public_key()

    monkeypatch.setattr(rs._jwks, "get_signing_key_from_jwt", lambda _: Key())
    good = token({"aud": "client-1"}, key=private, algorithm="RS256")  # type: ignore[arg-type]
    assert rs.verify(good).sub == "merchant-1"
    access = token({"client_id": "client-1"}, key=private, algorithm="RS256")  # type: ignore[arg-type]
    assert rs.verify(access).sub == "merchant-1"
    with pytest.raises(Unauthorized):
        rs.verify(token({"aud": "someone-else"}, key=private, algorithm="RS256"))  # type: ignore[arg-type]
    with pytest.raises(Unauthorized):
        rs.verify(token())  # HS256 token offered to an RS256 verifier


def test_principal_from_event_and_guards() -> None:
    event = {"requestContext": {"authorizer": {"sub": "u1", "tenant_id": "t1", "roles": "consumer,merchant"}}}
    principal = principal_from_event(event)
    assert principal.roles == frozenset({"consumer", "merchant"})
    require_role(principal, "merchant")
    with pytest.raises(Forbidden):
        require_role(principal, "admin")
    with pytest.raises(Unauthorized):
        principal_from_event({"requestContext": {}})


def test_operator_is_a_role() -> None:
    assert verifier().verify(token({"roles": ["operator"]})).roles == frozenset({"operator"})


def test_the_context_carries_exp_and_an_expired_cached_context_is_refused() -> None:
    expires = int(time.time()) + 300
    principal = verifier().verify(token(exp=expires))
    context = principal.to_context()
    assert context["exp"] == str(expires)
    event = {"requestContext": {"authorizer": context}}
    assert principal_from_event(event).sub == "merchant-1"
    # API Gateway may replay this context from its cache after the token expired: refused then.
    with pytest.raises(Unauthorized):
        principal_from_event(event, now=lambda: expires)
    with pytest.raises(Unauthorized):
        principal_from_event({"requestContext": {"authorizer": {**context, "exp": "soon"}}})


@pytest.mark.parametrize("sub", ["link-payer", "link:inv_" + "a" * 24])
def test_a_reserved_subject_without_link_scope_is_refused(sub: str) -> None:
    context = {"sub": sub, "tenant_id": "t1", "roles": "consumer"}
    with pytest.raises(Unauthorized):
        principal_from_event({"requestContext": {"authorizer": context}})


def test_secret_formats() -> None:
    assert secret_from_string(" plain ") == "plain"
    assert secret_from_string('{"jwt_secret": "s3"}') == "s3"
    with pytest.raises(ValueError):
        secret_from_string('{"other": 1}')
