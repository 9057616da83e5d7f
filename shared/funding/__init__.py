"""Funding a wallet: charge, mint, credit, and the undo of a charge that will not fund."""
