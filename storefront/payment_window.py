"""What the payment window is opened with: the SDK's parameters, and the consent they need."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app, url_for
from flask_babel import gettext as _

from storefront.formatting import amount_for_sdk
from storefront.i18n import page_language
from storefront.extensions import db
from storefront.models import Payment, Plan, PlanPriceChange

# The version of the recurring-payment consent's text (templates/checkout/checkout.html), recorded
# on the subscription with the moment it was given: change it whenever that text changes.
CONSENT_VERSION = "2026-12-01"


def consent_text_id(version: str = CONSENT_VERSION) -> str:
    """Which text was agreed to: its version and the language it was read in ("2026-12-01/ko")."""
    return f"{version}/{page_language()}"


def coming_price_change(plan: Plan) -> PlanPriceChange | None:
    """The plan's price change not in effect yet, which its checkout's consent names."""
    return db.session.execute(db.select(PlanPriceChange).where(
        PlanPriceChange.plan_id == plan.id, PlanPriceChange.withdrawn_at.is_(None),
        PlanPriceChange.applied_at.is_(None))).scalar_one_or_none()


def checkout_consent_version(plan: Plan) -> str:
    """The checkout consent's version for the plan now: with a coming price change, its text
    names it too, and the version says which ("2026-12-01+pc3": see billing/price_changes.py)."""
    change = coming_price_change(plan)
    return f"{CONSENT_VERSION}+pc{change.id}" if change is not None else CONSENT_VERSION


def page_params(order_url: str, consent_version: str, plan: Plan) -> dict[str, str]:
    """What a page that opens the window (checkout, new card) gives its script: where to open
    the order, the consent's version and the price the page names, both sent back with the POST
    (a text or price changed meanwhile is refused), and where the callback's result goes."""
    return {
        "imp_code": current_app.config["IAMPORT_IMP_CODE"],
        "order_url": order_url,
        "consent_version": consent_version,
        "amount": str(plan.price),
        "currency": plan.currency,
        "complete_url": url_for("checkout.complete"),
    }


def consent_refusal(body: Any, plan: Plan, version: str = CONSENT_VERSION,
                    missing: str | None = None, changed: str | None = None) -> tuple[int, str] | None:
    """Why a page's script does not consent to what it is opening an order for, as it is sold
    now (status and message), or None when it does: the box ticked on text `version` (the
    checkout's recurring-payment consent unless told), at the price the page showed. `missing`
    and `changed` word the refusals for another page's text."""
    if not isinstance(body, dict):
        return 400, _("Send a JSON object.")
    consent = body.get("consent")
    if consent is None or consent is False or consent == "":
        return 400, missing or _("Please agree to the recurring payment to subscribe.")
    if not isinstance(consent, str):
        return 400, _("The consent to the recurring payment is the version of its text.")
    if consent != version:
        # The text changed since the page was loaded: what was agreed to is not what we record.
        return 409, changed or _("The terms of the recurring payment have changed. Please reload "
                                 "the page and read them again.")
    return price_refusal(body, plan)


def price_refusal(body: Any, plan: Plan) -> tuple[int, str] | None:
    """Why a page's script may not open an order at the plan's price now (status and message):
    it must send the price the page showed, and a price changed meanwhile is refused."""
    if not isinstance(body, dict):
        return 400, _("Send a JSON object.")
    try:
        amount = Decimal(str(body.get("amount")))
    except InvalidOperation:
        return 400, _("Send the amount the page showed.")
    if not amount.is_finite() or amount != plan.price or body.get("currency") != plan.currency:
        return 409, _("The price of this plan has changed since the page was loaded. Please "
                      "reload the page and check the new price.")
    return None


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL for iamport to call or send the shopper to: PUBLIC_URL and the route's path.

    Never the request's Host (nor its script root), which whoever sends the request chooses; and
    the same with or without a request (reconcile and task queues have none).
    """
    path = current_app.url_map.bind("").build(endpoint, values)
    return current_app.config["PUBLIC_URL"] + path


def sdk_params(payment: Payment) -> dict[str, Any]:
    """Everything `IMP.request_pay` needs that the server decides."""
    user = payment.user
    return {
        "imp_code": current_app.config["IAMPORT_IMP_CODE"],
        "pay": {
            "pg": current_app.config["IAMPORT_PG"],
            "pay_method": "card",
            "merchant_uid": payment.merchant_uid,
            # The name fixed when the shopper subscribed, the same on every payment of the
            # subscription (receipts, statements), whatever language the page is in now.
            "name": payment.subscription.name_for_orders,
            # What this payment was opened (and registered at iamport) for, not today's price.
            "amount": amount_for_sdk(payment.amount),
            "currency": payment.currency,
            # The payment window speaks the page's language (PAYMENTWALL's widget takes ko and en).
            "language": page_language(),
            # As the order was opened: the key it issues is charged with these ever after.
            "buyer_email": payment.buyer_email or user.email,
            "buyer_name": payment.buyer_name or user.buyer_name,
            "customer_uid": payment.customer_uid,
            "m_redirect_url": external_url("checkout.return_from_window"),
            "notice_url": external_url("webhooks.receive"),
            "bypass": {"widget_code": current_app.config["IAMPORT_WIDGET_CODE"]},
        },
        "complete_url": url_for("checkout.complete"),
    }
