"""The payment window: a Paymentwall-style card form that decides the payment and reports back."""
from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, redirect, render_template, request

from . import cards, payments, sdk, texts
from .money import format_amount
from .state import PINGBACK, REVIEW, current

bp = Blueprint("sandbox_window", __name__)


def language_of(meta: dict) -> str:
    """The window's language: the one request_pay asked for, kept when the window opened."""
    return texts.language_of(meta.get("language", meta.get("param", {}).get("language")))


def _load(imp_uid: str, key: str | None) -> tuple[dict, dict]:
    found = current().store.payment_get(imp_uid)
    # Only the page that opened the window holds its key.
    if found is None or not key or not hmac.compare_digest(key, found[1].get("window_key", "")):
        abort(404)
    return found


@bp.get("/window/<imp_uid>")
def show(imp_uid: str) -> Response | str:
    """The card form, or the result when the window already finished."""
    payment, meta = _load(imp_uid, request.args.get("key"))
    if meta.get("finished"):
        return _finish(payment, meta)
    return _form(payment, meta, {}, {})


@bp.post("/window/<imp_uid>")
def submit(imp_uid: str) -> Response | str:
    """Pay with the entered card, or close the window."""
    sb = current()
    payment, meta = _load(imp_uid, request.form.get("key"))
    if meta.get("finished"):
        return _finish(payment, meta)
    if request.form.get("action") == "close":
        with sb.store.tx():
            payment, meta = sb.store.payment_get(imp_uid)
            if not meta.get("finished"):
                language = language_of(meta)
                payments.mark_failed(sb, payment, texts.text(language, "closed_reason"))
                meta.update(finished=True, error_code=sdk.USER_CANCELLED,
                            error_msg=texts.text(language, "closed_message"))
                sb.store.payment_save(payment, meta)
        return _finish(payment, meta)

    card, errors = cards.read_card_form(request.form.to_dict(), sb.clock.now(), language_of(meta))
    if card is None:
        return _form(payment, meta, errors, request.form.to_dict()), 422
    with sb.store.tx():
        payment, meta = sb.store.payment_get(imp_uid)
        if not meta.get("finished"):
            _charge(sb, payment, meta, card)
    sb.wake()
    return _finish(payment, meta)


def _charge(sb, payment: dict, meta: dict, card: cards.CardDetails) -> None:
    """The first charge, which also issues the billing key once Paymentwall confirms it."""
    outcome = cards.first_charge(card, language_of(meta))
    payments.apply_card(payment, card.masked, card.brand)
    meta["card"] = payments.card_outcome_meta(card)
    meta["finished"] = True
    now = sb.clock.now()
    if outcome.result == cards.PAID:
        payments.mark_paid(sb, payment)
        meta.update(error_code=None, error_msg=None)
        # The key becomes chargeable, and the webhook leaves, when the pingback arrives.
        sb.store.job_add(PINGBACK, payment["imp_uid"], now + sb.knobs.pingback_delay)
    elif outcome.result == cards.HELD:
        payment["pg_tid"] = payments.new_pg_tid()
        payments.mark_failed(sb, payment, outcome.reason)
        meta.update(error_code=sdk.HELD_FOR_REVIEW, error_msg=outcome.reason, review="pending")
        sb.store.job_add(REVIEW, payment["imp_uid"], now + sb.knobs.review_delay,
                         {"decision": outcome.review})
    else:
        payment["pg_tid"] = payments.new_pg_tid()
        payments.mark_failed(sb, payment, outcome.reason)
        meta.update(error_code=sdk.CARD_DECLINED, error_msg=outcome.reason)
    sb.store.payment_save(payment, meta)


def _form(payment: dict, meta: dict, errors: dict, values: dict) -> str:
    values = {k: v for k, v in values.items() if k != "cvv"}  # never echo a security code
    # The holder's name starts as the order's buyer, as PAYMENTWALL's widget fills it in.
    values.setdefault("card_holder", payment.get("buyer_name") or "")
    language = language_of(meta)
    return render_template(
        "window.html",
        language=language,
        t=texts.texts_for(language),
        payment=payment,
        meta=meta,
        amount_text=format_amount(payment["amount"], payment["currency"]),
        errors=errors,
        values=values,
        imp_code=current().settings.imp_code,
    )


def _finish(payment: dict, meta: dict) -> Response | str:
    """Tell the merchant: a 302 to m_redirect_url on mobile, a postMessage to the SDK on desktop."""
    error_code, error_msg = meta.get("error_code"), meta.get("error_msg")
    if meta.get("mode") == "mobile":
        params = {
            "imp_uid": payment["imp_uid"],
            "merchant_uid": payment["merchant_uid"],
            "imp_success": "true" if error_code is None and payment["status"] == "paid" else "false",
        }
        if error_code:
            params.update(error_code=error_code, error_msg=error_msg)
        return redirect(sdk.add_query(meta["m_redirect_url"], params), code=302)
    rsp = payments.callback_rsp(payment, meta, error_code, error_msg)
    language = language_of(meta)
    return render_template(
        "window_done.html",
        language=language,
        t=texts.texts_for(language),
        payment=payment,
        rsp=rsp,
        amount_text=format_amount(payment["amount"], payment["currency"]),
        # postMessage goes to the merchant's origin only; "*" only if the page had none (file://).
        target_origin=meta.get("origin") if meta.get("origin") not in (None, "", "null") else "*",
    )
