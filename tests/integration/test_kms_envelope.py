"""The KMS adapter against moto: a real GenerateDataKey/Decrypt round trip, context binding and erase."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from shared.adapters.kms_keys import KmsDataKeys
from shared.crypto.envelope import KeyMaterialErased, erase, seal, unseal
from shared.crypto.keys import WalletKeys, generate_wallet_keys


@pytest.fixture
def kms_keys():  # type: ignore[no-untyped-def]
    with mock_aws():
        client = boto3.client("kms", region_name="us-east-1")
        key_id = client.create_key(Description="wallet keys")["KeyMetadata"]["KeyId"]
        yield KmsDataKeys(client, key_id)


def test_wallet_keys_round_trip_through_kms(kms_keys: KmsDataKeys) -> None:
    keys = generate_wallet_keys()
    sealed = seal(keys.secret_bytes(), "wal_round", kms_keys)
    restored = WalletKeys.from_secret_bytes(unseal(sealed, "wal_round", kms_keys))
    assert restored.evm_address == keys.evm_address
    assert restored.solana_address == keys.solana_address


def test_kms_refuses_another_wallets_context(kms_keys: KmsDataKeys) -> None:
    sealed = seal(b"s" * 64, "wal_one", kms_keys)
    with pytest.raises(Exception, match="InvalidCiphertext"):
        unseal(sealed, "wal_two", kms_keys)


def test_erased_keys_no_longer_decrypt(kms_keys: KmsDataKeys) -> None:
    sealed = seal(b"s" * 64, "wal_gone", kms_keys)
    with pytest.raises(KeyMaterialErased):
        unseal(erase(sealed), "wal_gone", kms_keys)
