"""The money logic: open an order, verify a payment with iamport and record its outcome once (see each module for one concern)."""

from storefront.billing.common import (
    LIVE_STATUSES,
    ActionRefused,
    UnknownPayment,
    any_live_subscription,
    first_payment_in_review,
    live_subscription,
    owned_subscription,
    payment_by_merchant_uid,
    payment_for_owner,
    refund_of,
    refunds_of_order,
)
from storefront.billing.closing import end_all_now, money_open
from storefront.billing.ending import (
    EndingRefund, end_now, refund_on_ending_now, withdrawal_open, write_end_now,
)
from storefront.billing.lifecycle import (
    cancel, end_finished_periods, period_end_after, resume, write_cancel,
)
from storefront.billing.orders import (
    DuplicateSubmission,
    charge_now,
    charge_refusal,
    open_card_change,
    open_checkout,
)
from storefront.billing.obligations import carry_out
from storefront.billing.reconcile import ReconcileReport, reconcile
from storefront.billing.recording import Recorded, record_payment, verify, verify_order, verify_payment
from storefront.billing.renewals import (
    confirm_billing_key, decide_renewals, ensure_schedule, next_charge_at, update_schedules,
)
from storefront.billing.returns import ReturnKind, ReturnResult, verify_return
from storefront.billing.schedules import revoke_schedule, send_schedule
from storefront.billing.staff_refunds import (
    refund_by_staff, refundable_balance, refundable_of_subscription, split_refund,
)
from storefront.billing.verification import USAGE_SCHEDULED, Outcome, judge, mismatch_reason

__all__ = [
    "LIVE_STATUSES", "ActionRefused", "DuplicateSubmission", "EndingRefund", "Outcome",
    "ReconcileReport", "Recorded", "ReturnKind", "ReturnResult", "USAGE_SCHEDULED", "UnknownPayment",
    "any_live_subscription", "cancel", "carry_out", "end_all_now", "money_open", "charge_now", "charge_refusal", "confirm_billing_key", "decide_renewals",
    "end_finished_periods", "end_now", "ensure_schedule", "refund_on_ending_now",
    "withdrawal_open", "write_end_now",
    "first_payment_in_review", "judge", "live_subscription", "mismatch_reason",
    "next_charge_at", "open_card_change", "open_checkout", "owned_subscription",
    "payment_by_merchant_uid", "payment_for_owner", "period_end_after", "reconcile",
    "record_payment", "refund_by_staff", "refund_of", "refundable_balance",
    "refundable_of_subscription", "refunds_of_order", "split_refund", "write_cancel",
    "resume", "revoke_schedule", "send_schedule", "update_schedules", "verify", "verify_order",
    "verify_payment", "verify_return",
]
