"""The shopper's account page: subscriptions, history, charge now (cancel, withdraw, resume and a new price's consent are storefront.account_actions; the new card is storefront.card)."""

from __future__ import annotations

import secrets
from flask import (
    Blueprint, abort, current_app, flash, jsonify, make_response, redirect, render_template, request,
    session, url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user, login_required
from itsdangerous import BadData, URLSafeSerializer

from storefront import clock
from storefront import billing
from storefront.billing import price_changes
from storefront.errors import error_response
from storefront.extensions import db
from storefront.formatting import money
from storefront.models import (
    Payment,
    PaymentKind,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from storefront.wording import (
    activating, card_shown, charge_caption, next_charge_text, reason_shown, status_label,
)

bp = Blueprint("account", __name__, url_prefix="/account")

HISTORY_PAGE_SIZE = 10
# Longer than any token we sign; a longer one is not read at all.
MAX_CHARGE_TOKEN = 200
# Past this page the history is empty anyway; a larger one would overflow the query's OFFSET.
MAX_PAGE = 100_000
# Ids are 32-bit in PostgreSQL; a larger one in the URL would fail the query instead of missing.
MAX_ID = 2**31 - 1
# Rows that are plans for the future or checkouts never attempted are not history.
NO_SUCH_SUBSCRIPTION = lazy_gettext("We could not find that subscription.")
HIDDEN_FROM_HISTORY = (PaymentStatus.SCHEDULED, PaymentStatus.WITHDRAWING, PaymentStatus.REVOKED)


def _owned(subscription_id: int) -> Subscription | None:
    """The logged-in shopper's subscription with this id, or None."""
    if subscription_id > MAX_ID:
        return None
    return billing.owned_subscription(subscription_id, current_user)


def subscription_or_404(subscription_id: int) -> Subscription:
    """The logged-in shopper's subscription with this id, or a 404 page."""
    subscription = _owned(subscription_id)
    if subscription is None:
        abort(404, NO_SUCH_SUBSCRIPTION)
    return subscription


@bp.route("")
@login_required
def overview():
    """Subscriptions with their state and actions, then the payment history."""
    subscriptions = list(
        db.session.execute(
            db.select(Subscription)
            .where(
                Subscription.user_id == current_user.id,
                # A subscription being bought is shown once its first payment is held for review:
                # the shopper has paid and needs to see that it is under way.
                (Subscription.status != SubscriptionStatus.INCOMPLETE)
                | Subscription.payments.any(
                    (Payment.kind == PaymentKind.FIRST) & (Payment.status == PaymentStatus.REVIEW)
                ),
            )
            .order_by(Subscription.created_at.desc())
        ).scalars()
    )
    page = request.args.get("page", 1, type=int)
    if page is None or not 1 <= page <= MAX_PAGE:
        page = 1
    history = db.paginate(
        db.select(Payment)
        .where(
            Payment.user_id == current_user.id,
            Payment.status.not_in(HIDDEN_FROM_HISTORY),
            # A checkout or card change opened in a window but not paid is not a charge.
            ~(Payment.kind.in_((PaymentKind.FIRST, PaymentKind.CARD_CHANGE))
              & (Payment.status == PaymentStatus.PENDING)),
        )
        .order_by(Payment.occurred_at.desc(), Payment.id.desc()),
        page=page, per_page=HISTORY_PAGE_SIZE, error_out=False,
    )
    return render_template(
        "account/overview.html",
        subscriptions=subscriptions,
        next_charge={sub.id: next_charge_text(sub, billing.next_charge_at(sub))
                     for sub in subscriptions},
        refusal={sub.id: billing.charge_refusal(sub) for sub in subscriptions},
        subscribe_again=_subscribe_again(subscriptions),
        # Withdrawal (청약철회) is offered beside cancel while its period lasts (a shopper has
        # at most a live subscription or two: one look-up each).
        withdrawable={sub.id for sub in subscriptions
                      if sub.status in billing.LIVE_STATUSES and billing.withdrawal_open(sub)},
        price_consent={sub.id: price_changes.open_consent(sub) for sub in subscriptions},
        price_text_version=price_changes.TEXT_VERSION,
        history=history,
        now=clock.now(),
    )


def _subscribe_again(subscriptions: list[Subscription]) -> set[int]:
    """The ended subscriptions whose plan is still sold and not held again: each offers to
    subscribe again (after failed payments as after a cancel)."""
    held = {sub.plan_id for sub in subscriptions if sub.status != SubscriptionStatus.CANCELED}
    return {sub.id for sub in subscriptions if sub.status == SubscriptionStatus.CANCELED
            and sub.plan.active and sub.plan_id not in held}


def _charge_tokens() -> URLSafeSerializer:
    """Signs "Charge now" tokens for this browser session only.

    The key lives in the session, which log-in and log-out clear, so a token copied from another
    session, or kept from before a log-out, does not verify.
    """
    session_key = session.setdefault("charge_session", secrets.token_hex(16))
    return URLSafeSerializer(current_app.secret_key, salt=f"charge-now:{session_key}")


def issue_charge_token(subscription: Subscription) -> str:
    """A one-time token for one confirmation page of one subscription."""
    return _charge_tokens().dumps([subscription.id, secrets.token_urlsafe(16)])


def charge_key(token: str, subscription: Subscription) -> str | None:
    """The idempotency key a token issued here carries, or None when it is not for this charge."""
    if not token or len(token) > MAX_CHARGE_TOKEN:
        return None
    try:
        subscription_id, key = _charge_tokens().loads(token)
    except (BadData, ValueError, TypeError):
        return None
    return key if subscription_id == subscription.id and isinstance(key, str) else None


@bp.route("/subscriptions/<int:subscription_id>/charge", methods=["GET", "POST"])
@login_required
def charge(subscription_id: int):
    """Confirm, then charge the stored card now (once per form token)."""
    subscription = subscription_or_404(subscription_id)
    if request.method == "GET":
        refusal = billing.charge_refusal(subscription)
        if refusal:
            flash(refusal, "warning")
            return redirect(url_for("account.overview"))
        return render_template(
            "account/confirm_charge.html", subscription=subscription,
            # The date the charge itself gives: counted on the billing anchor's calendar.
            paid_until=billing.period_end_after(subscription),
            # One token per confirmation page: submitting it twice still charges once.
            charge_token=issue_charge_token(subscription),
        )
    refusal = billing.charge_refusal(subscription)
    if refusal:
        # A stale page of a subscription that can no longer be charged: say why, not "reload".
        flash(refusal, "warning")
        return redirect(url_for("account.overview")), 303
    key = charge_key(request.form.get("charge_token", ""), subscription)
    if key is None:
        return error_response(400, _("This confirmation is not valid any more. Please reload the "
                                     "page and confirm again; nothing was charged."))
    try:
        payment = billing.charge_now(subscription, key)
    except billing.ActionRefused as exc:
        flash(str(exc), "warning")
        return redirect(url_for("account.overview")), 303
    except billing.DuplicateSubmission as dup:
        flash(_("That charge was already submitted; you are charged only once."), "info")
        payment = dup.payment
    _flash_charge(payment)
    return redirect(url_for("account.overview")), 303


def _flash_charge(payment: Payment) -> None:
    amount = money(payment.amount, payment.currency)
    if payment.status == PaymentStatus.PAID:
        flash(_("Charged %(amount)s. Thank you!", amount=amount), "success")
    elif payment.status == PaymentStatus.FAILED:
        flash(_("The charge was declined: %(reason)s", reason=reason_shown(payment.fail_reason)), "error")
    elif payment.status == PaymentStatus.REVIEW:
        flash(_("The charge is held for review by PAYMENTWALL; we will update it when it is decided."),
              "warning")
    else:
        flash(_("We have not heard back from the payment provider yet. The charge is pending and "
                "will be confirmed shortly; you will not be charged twice."), "warning")


def _first_payment_held(subscription: Subscription) -> bool:
    """A subscription being bought whose first payment PAYMENTWALL holds for review."""
    return subscription.status == SubscriptionStatus.INCOMPLETE and any(
        p.kind == PaymentKind.FIRST and p.status == PaymentStatus.REVIEW for p in subscription.payments)


@bp.route("/subscriptions/<int:subscription_id>/status")
def status(subscription_id: int):
    """The subscription as the account page shows it, for the page to poll while the card is
    being activated or the first payment is held for review (the database only: iamport is
    asked by the webhook and reconcile, not by every poll)."""
    # Errors in the form asked for (the page's script asks for JSON), never a log-in redirect.
    if not current_user.is_authenticated:
        response = make_response(error_response(401, _("Please log in to continue.")))
    else:
        subscription = _owned(subscription_id)
        if subscription is None:
            response = make_response(error_response(404, NO_SUCH_SUBSCRIPTION))
        else:
            refusal = billing.charge_refusal(subscription)
            still_activating = activating(subscription)
            response = jsonify(
                status=str(subscription.status),
                in_review=_first_payment_held(subscription),
                status_label=status_label(subscription.status),
                activating=still_activating,
                card=None if still_activating else card_shown(subscription),
                next_charge=next_charge_text(subscription, billing.next_charge_at(subscription)),
                charge_url=None if refusal else url_for("account.charge",
                                                        subscription_id=subscription.id),
                caption=refusal or charge_caption(subscription),
            )
    # A poll must see the change, never a cached answer (and no one else's).
    response.headers["Cache-Control"] = "no-store"
    return response


# The routes that end or keep a subscription live beside this module, on the same blueprint.
from storefront import account_actions  # noqa: E402,F401
