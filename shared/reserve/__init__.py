"""Reserve reconciliation: tokens out equal fiat in, proved every day."""
