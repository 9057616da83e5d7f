"""Key derivation against published vectors (EIP-55, a known secp256k1 key, RFC 8032 ed25519)."""

from __future__ import annotations

import pytest

from shared.crypto.keys import (
    WalletKeys,
    evm_address,
    generate_wallet_keys,
    is_checksum_address,
    solana_address,
    to_checksum_address,
)

# The four test vectors listed in EIP-55 itself.
EIP55_VECTORS = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", EIP55_VECTORS)
def test_eip55_checksum_matches_the_published_vectors(address: str) -> None:
    assert to_checksum_address(address.lower()) == address
    assert to_checksum_address(address.upper().replace("0X", "0x")) == address
    assert is_checksum_address(address)
    assert not is_checksum_address(address.lower())


def test_evm_address_of_a_known_private_key() -> None:
    # The account used in the Ethereum JSON-RPC / web3 documentation examples.
    key = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
    assert evm_address(key) == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


def test_evm_private_key_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        evm_address(bytes(32))
    with pytest.raises(ValueError):
        evm_address(b"\xff" * 32)


def test_ed25519_public_key_of_rfc8032_test_1_as_a_solana_address() -> None:
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    import base58

    assert solana_address(seed) == base58.b58encode(public).decode()
    assert base58.b58decode(solana_address(seed)) == public


def test_generated_keys_are_fresh_and_round_trip_through_their_secret_bytes() -> None:
    first, second = generate_wallet_keys(), generate_wallet_keys()
    assert first.evm_address != second.evm_address
    assert first.solana_address != second.solana_address
    assert is_checksum_address(first.evm_address)
    restored = WalletKeys.from_secret_bytes(first.secret_bytes())
    assert restored == first
    assert first.evm_private_key.hex() not in repr(first)
    assert first.solana_seed.hex() not in repr(first)
