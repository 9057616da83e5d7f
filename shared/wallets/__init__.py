"""Wallets: creation from an invoice, modes, keys, reads, counters and transformation."""
