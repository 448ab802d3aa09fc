"""Database models: User, Plan, Subscription, Payment, what we owe iamport (Refund, RetiredKey), mail (OutboxMessage), the timeline (SubscriptionEvent, WebhookReceipt), the MRR ledger (MrrChange), price changes (PlanPriceChange, PriceConsent), ShopState and the back office's AuditEntry."""

from storefront.models.audit_log import AuditEntry
from storefront.models.columns import Money, UTCDateTime, enum_column, utcnow
from storefront.models.events import (
    EventCause, EventKind, SubscriptionEvent, WebhookOutcome, WebhookReceipt,
)
from storefront.models.mrr import MrrChange
from storefront.models.outbox import OutboxMessage
from storefront.models.payments import Payment, Refund, RetiredKey
from storefront.models.plan_changes import ChangeStatus, ChangeWhen, PlanChange
from storefront.models.pricing import PlanPriceChange, PriceConsent
from storefront.models.statuses import (
    EndedReason,
    Interval,
    MrrKind,
    PaymentKind,
    PaymentStatus,
    RefundStatus,
    SubscriptionStatus,
)
from storefront.models.state import ShopState
from storefront.models.subscriptions import Plan, Subscription
from storefront.models.throttles import LoginThrottle
from storefront.models.users import PASSWORD_METHOD, User, new_session_token

__all__ = [
    "AuditEntry", "ChangeStatus", "ChangeWhen", "PlanChange", "EndedReason", "EventCause", "EventKind", "PASSWORD_METHOD", "Interval", "LoginThrottle",
    "Money", "MrrChange", "MrrKind", "OutboxMessage",
    "Payment", "PaymentKind", "PaymentStatus", "Plan", "PlanPriceChange", "PriceConsent", "Refund", "RefundStatus", "RetiredKey",
    "ShopState", "Subscription", "SubscriptionEvent",
    "SubscriptionStatus", "UTCDateTime", "User", "enum_column", "new_session_token",
    "WebhookOutcome", "WebhookReceipt", "utcnow",
]
