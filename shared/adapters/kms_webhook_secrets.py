"""KMS adapter of the SecretSealer port: webhook signing secrets encrypted under their own key (`WebhookKey`)
with the endpoint's id as encryption context, so a sealed secret copied onto another endpoint does not open.

A secret is 50 bytes: KMS Encrypt takes it directly (up to 4 KB), no data key needed. Opened secrets are
kept in the process (a warm delivery function signs the same endpoints again and again), as the signing
itself has them in memory anyway; a cold one pays one Decrypt per endpoint.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.adapters.kms_keys import UNAVAILABLE
from shared.errors import DependencyUnavailable

# The encryption context key, which the key policy requires (infra/security.py).
CONTEXT_KEY = "webhook_endpoint_id"
OPENED_CACHE = 512


class KmsSecretSealer:
    def __init__(self, client: Any, key_id: str) -> None:
        if not key_id:
            raise ValueError("the webhook secret key id (WEBHOOK_KEY_ID) is required")
        self._client = client
        self._key_id = key_id
        self._opened: OrderedDict[tuple[str, bytes], str] = OrderedDict()
        self._lock = Lock()

    def seal(self, endpoint_id: str, secret: str) -> bytes:
        answer = self._call(
            "encrypt",
            KeyId=self._key_id,
            Plaintext=secret.encode("utf-8"),
            EncryptionContext={CONTEXT_KEY: endpoint_id},
        )
        sealed: bytes = answer["CiphertextBlob"]
        self._remember(endpoint_id, sealed, secret)
        return sealed

    def open(self, endpoint_id: str, sealed: bytes) -> str:
        with self._lock:
            known = self._opened.get((endpoint_id, sealed))
            if known is not None:
                self._opened.move_to_end((endpoint_id, sealed))
                return known
        answer = self._call(
            "decrypt",
            KeyId=self._key_id,
            CiphertextBlob=sealed,
            EncryptionContext={CONTEXT_KEY: endpoint_id},
        )
        secret = bytes(answer["Plaintext"]).decode("utf-8")
        self._remember(endpoint_id, sealed, secret)
        return secret

    def _remember(self, endpoint_id: str, sealed: bytes, secret: str) -> None:
        with self._lock:
            self._opened[(endpoint_id, sealed)] = secret
            while len(self._opened) > OPENED_CACHE:
                self._opened.popitem(last=False)

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except BotoCoreError as exc:
            raise DependencyUnavailable("KMS is unreachable") from exc
        except ClientError as exc:
            if exc.response["Error"]["Code"] in UNAVAILABLE:
                raise DependencyUnavailable("KMS is unavailable") from exc
            raise
        return answer
