"""Stripe Identity VerificationSessions: create, retrieve, cancel, and the control that verifies or fails one
(as the person finishing or failing the hosted flow would), each change emitted as its signed event."""

from __future__ import annotations

from typing import Any

from local.stripe import params as p
from local.stripe.errors import invalid_request, no_such, refused
from local.stripe.state import RequestContext, Store, new_id

OBJECT = "identity.verification_session"
TYPES = ("document", "id_number")
# Stripe's `last_error.code` values a document or selfie check can end with.
FAILURE_CODES = (
    "abandoned",
    "consent_declined",
    "document_expired",
    "document_type_not_supported",
    "document_unverified_other",
    "id_number_mismatch",
    "id_number_unverified_other",
    "selfie_document_missing_photo",
    "selfie_face_mismatch",
    "selfie_manipulated",
    "selfie_unverified_other",
    "under_supported_age",
)
DEFAULT_FAILURE = ("document_unverified_other", "The document could not be verified.")


def page_url(ctx: RequestContext, session_id: str) -> str:
    """The local stand-in's hosted page (Stripe's is verify.stripe.com)."""
    return f"{ctx.base_url}/_identity/{session_id}"


def create_session(store: Store, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    p.reject_unknown(
        params,
        ("type", "options", "metadata", "return_url", "client_reference_id", "provided_details"),
    )
    kind = p.choice(params, "type", TYPES)
    if kind is None:
        raise invalid_request("Missing required param: type.", param="type")
    options = params.get("options") or {}
    if not isinstance(options, dict):
        raise invalid_request("Invalid hash: options", param="options")
    document = options.get("document") or {}
    if not isinstance(document, dict):
        raise invalid_request("Invalid hash: options[document]", param="options[document]")
    known = ("allowed_types", "require_id_number", "require_live_capture", "require_matching_selfie")
    for name in document:
        if name not in known:
            raise invalid_request(
                f"Received unknown parameter: options[document][{name}]", param=f"options[document][{name}]"
            )
    document_options = {
        name: p.boolean(document, name)
        for name in ("require_id_number", "require_live_capture", "require_matching_selfie")
        if name in document
    }
    session_id = new_id("vs_")
    session = {
        "id": session_id,
        "object": OBJECT,
        "client_reference_id": p.string(params, "client_reference_id"),
        "client_secret": f"{session_id}_secret_{new_id('', 24)}",
        "created": store.now(),
        "last_error": None,
        "last_verification_report": None,
        "livemode": False,
        "metadata": p.metadata(params.get("metadata")),
        "options": {"document": document_options} if kind == "document" else {},
        "redaction": None,
        "return_url": p.string(params, "return_url"),
        "status": "requires_input",
        "type": kind,
        "url": page_url(ctx, session_id),
        "verified_outputs": None,
    }
    store.add(session)
    store.emit(f"{OBJECT}.created", session, ctx)
    return session


def get_session(store: Store, ctx: RequestContext, params: dict[str, Any], session_id: str) -> dict[str, Any]:
    p.reject_unknown(params, ())
    return _session(store, session_id)


def cancel_session(
    store: Store, ctx: RequestContext, params: dict[str, Any], session_id: str
) -> dict[str, Any]:
    p.reject_unknown(params, ())
    session = _session(store, session_id)
    if session["status"] not in ("requires_input", "processing"):
        raise refused(
            f"This VerificationSession ({session_id}) has a status of {session['status']} and cannot be "
            "canceled.",
            code="verification_session_unexpected_state",
        )
    session.update(status="canceled", url=None)
    store.emit(f"{OBJECT}.canceled", session, ctx)
    return session


def complete(
    store: Store, session_id: str, outcome: str, code: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """The person finishes the hosted flow: `verified`, or `requires_input` with `last_error`."""
    with store.lock:
        session = _session(store, session_id)
        if session["status"] not in ("requires_input", "processing"):
            raise refused(f"VerificationSession {session_id} is {session['status']}; nothing to complete.")
        if outcome == "verified":
            report = {"id": new_id("vr_"), "object": "identity.verification_report", "type": session["type"]}
            store.add({**report, "created": store.now(), "verification_session": session_id})
            session.update(
                status="verified",
                url=None,
                last_error=None,
                last_verification_report=report["id"],
                verified_outputs={"first_name": "Jenny", "last_name": "Rosen", "id_number_type": None},
            )
            store.emit(f"{OBJECT}.verified", session, None)
        elif outcome == "requires_input":
            failure_code = code or DEFAULT_FAILURE[0]
            if failure_code not in FAILURE_CODES:
                raise invalid_request(f"code must be one of {', '.join(FAILURE_CODES)}", param="code")
            session.update(
                status="requires_input",
                last_error={"code": failure_code, "reason": reason or DEFAULT_FAILURE[1]},
            )
            store.emit(f"{OBJECT}.requires_input", session, None)
        else:
            raise invalid_request("outcome must be verified or requires_input", param="outcome")
        store.save()
        return store.render(session)


def _session(store: Store, session_id: str) -> dict[str, Any]:
    session = store.get(session_id, OBJECT)
    if session is None:
        raise no_such("verificationsession", session_id)
    return session
