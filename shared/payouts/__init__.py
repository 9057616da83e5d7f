"""Payroll and vendor payouts from a tenant's treasury, with maker-checker approval."""
