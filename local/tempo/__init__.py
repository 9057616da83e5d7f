"""A local stand-in for Tempo, a stablecoin payments chain, behind the JSON REST API modelled here.

Tempo API v1 (what shared/adapters/tempo.py speaks). JSON bodies; `Authorization: Bearer <api key>` on
every /v1 call; every POST carries an `Idempotency-Key` header (1-255 chars). Amounts are strings of
whole base units (6 decimals: "12500000" is 12.5 tokens). Assets: USDC, USDT, PYUSD, EURC, USDB.
Addresses are 0x + 40 hex.

    GET  /v1/health                 -> {"status": "ok"|"degraded", "block_height",
                                        "tps": "0.25", "error_rate": "0.0100"}
    POST /v1/addresses              {"label"} -> 201 {"address", "label"}
    POST /v1/mints                  {"asset", "amount", "to"}            -> 200 Transaction
    POST /v1/burns                  {"asset", "amount", "from"}          -> 200 Transaction
    POST /v1/transfers              {"asset", "amount", "from", "to"}    -> 200 Transaction
    POST /v1/transfers/batch        {"asset", "from", "transfers": [{"to", "amount"}]} -> 200 Transaction
                                    (all legs or none; "amount" is the total)
    POST /v1/swaps                  {"from_asset", "to_asset", "amount", "address"}
                                    -> 200 {"id", "hash", "status", "from_asset", "to_asset", "amount_in",
                                            "amount_out", "rate"}
                                    (rate: to-units per from-unit, a decimal string)
    GET  /v1/balances/{address}?asset=USDC -> {"address", "asset", "amount"}
    GET  /v1/supply/{asset}         -> {"asset", "total_supply"}

    Transaction = {"id": "ttx_...", "hash": "0x<64 hex>", "status": "confirmed", "type", "asset", "amount",
                   "from", "to", "block", "created_at"}

Errors: `{"error": {"code", "message"}}` with 400 `invalid_request` / `insufficient_balance`, 401
`unauthorized`, 404 `not_found`, 422 `idempotency_key_reused` (same key, different request: the IETF
Idempotency-Key draft's answer), 429 `rate_limited`, 500 `internal_error`, 503 `unavailable`, 504 `timeout`.
The same key with the same request replays the first answer (status and body) with `Idempotent-Replayed: true`
and changes nothing.

`python -m local.tempo --port 8545 [--seed N]`; control API under `/_control/` (providers_common/core.py):
GET state (balances, supply, operations, faults), POST reset {seed?}, fail {mode: error|timeout|timeout_after,
status, count | probability, path?, method?, hang_seconds?, seed?}, latency {seconds, path?}, down, up,
status {status: ok|degraded}.
"""
