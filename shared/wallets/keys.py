"""A wallet's private keys: opened from the sealed KEYS item to sign, and cryptographically erased."""

from __future__ import annotations

from shared.clock import Clock
from shared.crypto.envelope import DataKeyService, unseal
from shared.crypto.keys import WalletKeys
from shared.errors import NotFound
from shared.outbox.records import audit_entry
from shared.wallets.ports import WalletRepository


class WalletKeyVault:
    """The only way to the plaintext keys; they live in memory for the caller's signing and go nowhere."""

    def __init__(self, wallets: WalletRepository, data_keys: DataKeyService, clock: Clock) -> None:
        self._wallets = wallets
        self._data_keys = data_keys
        self._clock = clock

    def open(self, wallet_id: str) -> WalletKeys:
        """The wallet's keys; KeyMaterialErased after erase, SealedSecretCorrupt if tampered or moved."""
        sealed = self._wallets.sealed_keys(wallet_id)
        if sealed is None:
            raise NotFound("wallet keys not found")
        return WalletKeys.from_secret_bytes(unseal(sealed, wallet_id, self._data_keys))

    def erase(self, wallet_id: str, tenant_id: str, actor: str) -> None:
        """Cryptographic erase (NIST SP 800-88): drop the wrapped data key; repeating it changes nothing."""
        sealed = self._wallets.sealed_keys(wallet_id)
        if sealed is None:
            raise NotFound("wallet keys not found")
        if sealed.erased:
            return
        now = self._clock.now()
        changes = {"wrapped_key": "removed", "key_id": sealed.key_id}
        record = audit_entry(wallet_id, "wallet.keys_erased", actor, tenant_id, now, changes)
        self._wallets.erase_keys(wallet_id, now, [record])
