"""A tenant's treasury: its persistent wallet, balances and deposits; payouts draw from it."""
