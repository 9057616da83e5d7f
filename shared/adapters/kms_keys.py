"""KMS adapter of the DataKeyService port: GenerateDataKey / Decrypt with the wallet's encryption context."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.crypto.envelope import DataKey
from shared.errors import DependencyUnavailable


def kms_client(region: str) -> Any:
    """The kms client, boto3 imported on first use so that no function pays for it at import."""
    import boto3

    return boto3.client("kms", region_name=region)


# Errors meaning "KMS cannot serve now, retry later"; anything else (AccessDenied, InvalidCiphertext) is a bug
# or tampering and must surface as such rather than as a retryable 503.
UNAVAILABLE = {
    "DependencyTimeoutException",
    "KMSInternalException",
    "KeyUnavailableException",
    "ThrottlingException",
    "LimitExceededException",
}


class KmsDataKeys:
    def __init__(self, client: Any, key_id: str) -> None:
        if not key_id:
            raise ValueError("KMS key id is required")
        self._client = client
        self._key_id = key_id

    def generate_data_key(self, context: dict[str, str]) -> DataKey:
        try:
            answer = self._client.generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context
            )
        except BotoCoreError as exc:
            raise DependencyUnavailable("KMS is unreachable") from exc
        except ClientError as exc:
            if exc.response["Error"]["Code"] in UNAVAILABLE:
                raise DependencyUnavailable("KMS is unavailable") from exc
            raise
        return DataKey(
            plaintext=answer["Plaintext"], wrapped=answer["CiphertextBlob"], key_id=answer["KeyId"]
        )

    def decrypt_data_key(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        try:
            answer = self._client.decrypt(
                KeyId=self._key_id, CiphertextBlob=wrapped, EncryptionContext=context
            )
        except BotoCoreError as exc:
            raise DependencyUnavailable("KMS is unreachable") from exc
        except ClientError as exc:
            if exc.response["Error"]["Code"] in UNAVAILABLE:
                raise DependencyUnavailable("KMS is unavailable") from exc
            raise
        plaintext: bytes = answer["Plaintext"]
        return plaintext
