"""The payouts function's payroll claim links, `/public/claim/{token}`: the page or JSON to anyone holding
the link, the claim itself to the consumer it is addressed to, signed in."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from shared.api import Answer, answer, caller, html_response, ok, wants_html
from shared.bootstrap import app as capabilities
from shared.errors import InvalidLink
from shared.payouts.output import ClaimData

router = APIGatewayRouter()


@router.get(
    "/public/claim/<token>",
    summary="A payroll claim link: JSON for API clients, the hosted claim page for browsers",
    responses={200: answer(ClaimData, "amount, employer and countdown of the pay")},
)
def view_claim(token: str) -> Answer[ClaimData]:
    claims = capabilities().payroll_claims
    if wants_html((router.current_event.headers or {}).get("accept") or ""):
        # The page's renderer (and the checkout script and wallet models it draws on) only for a browser.
        from shared.payouts.claim_page import claim_error_page, claim_page

        try:
            return html_response(200, claim_page(claims.view(token)))
        except InvalidLink as exc:
            return html_response(400, claim_error_page(exc.message))
    return ok(ClaimData.of(claims.view(token)), headers={"Cache-Control": "no-store"})


@router.post(
    "/public/claim/<token>",
    summary="Claim the pay into the signed-in consumer's wallet (the one the item names, by id or email)",
    responses={200: answer(ClaimData, "the pay, claimed")},
)
def claim_pay(token: str) -> Answer[ClaimData]:
    return ok(ClaimData.of(capabilities().payroll_claims.claim(token, caller(router))))
