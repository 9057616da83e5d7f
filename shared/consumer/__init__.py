"""The consumer wallet capability: people, their persistent wallet, KYC limits and internal transfers."""
