"""A local stand-in for Circle's REST API: the subset shared/adapters/circle.py speaks, in Circle's shapes.

Circle conventions kept: `Authorization: Bearer <TEST_API_KEY:id:secret>`; every mutation has an
`idempotencyKey` (UUID v4 form) in its JSON body, and the same key with the same body replays the first
answer while the same key with another body is 409 (code 1083); amounts are Money objects
`{"amount": "12.5", "currency": "USD"}` (decimal strings, at most 6 decimals; USD is USDC, EUR is EURC, the
other assets use their symbol); answers are `{"data": ...}`; errors `{"code": n, "message": "..."}` (2
invalid request, 3 unauthorized, 1091 insufficient funds, 1083 idempotency key reuse, -1 transient).

Real Circle paths: GET /ping, POST /v1/w3s/developer/wallets (no entity secret ciphertext required here),
POST /v1/businessAccount/transfers (the mint: treasury to a blockchain destination), POST
/v1/exchange/quotes and /v1/exchange/trades (the swap), GET /v1/stablecoins (total supply). Modelled in
Circle's style because Circle has no public equivalent: POST /v1/businessAccount/burns {source, amount},
POST /v1/transfers {source, destination, amount} between blockchain locations, POST /v1/transfers/batch
{source, transfers: [{destination, amount}]} (all legs or none), GET /v1/w3s/addresses/{address}/balances
(W3S `tokenBalances` shape). A location is `{"type": "blockchain", "address": "0x...", "chain": "ETH"}`.

`python -m local.circle --port 8546 [--seed N]`; the `/_control/` API is the Tempo stand-in's (see
local/tempo/__init__.py and local/providers_common/core.py).
"""
