"""The double-entry ledger: assets, accounts, journals, running totals and the reserve's arithmetic."""
