"""What is sold and who subscribes: Plan, and Subscription with its billing key and periods."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storefront.extensions import db
from storefront.formatting import minor_digits, minor_unit
from storefront.i18n import page_language
from storefront.models.columns import Money, UTCDateTime, enum_column, shop_now, sql_values
from storefront.models.statuses import EndedReason, Interval, SubscriptionStatus
from storefront.models.users import User

if TYPE_CHECKING:
    from storefront.models.payments import Payment

# iamport's longest order name (`name`), in characters.
ORDER_NAME_LENGTH = 40
_OPEN_SUBSCRIPTION = sql_values((SubscriptionStatus.INCOMPLETE, SubscriptionStatus.ACTIVE,
                                 SubscriptionStatus.PAST_DUE))
_LIVE_SUBSCRIPTION = sql_values((SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE))
# One live subscription per shopper, leaving out the rows kept live from before the rule.
_ONE_LIVE = f"status IN ({_LIVE_SUBSCRIPTION}) AND NOT kept_before_one_live"


class Plan(db.Model):
    """Something a shopper can subscribe to, with its price per interval."""

    __tablename__ = "plans"
    __table_args__ = (
        sa.CheckConstraint(f"interval IN ({sql_values(Interval)})", name="interval"),
        sa.CheckConstraint("price > 0", name="price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    features: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    interval: Mapped[Interval] = mapped_column(enum_column(Interval, 5), default=Interval.MONTH)
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    # The plan's texts in other languages, e.g. {"ko": {"name": "베이직", "description": "…",
    # "features": […]}}; a text not given there is shown as written above.
    translations: Mapped[dict[str, dict[str, Any]]] = mapped_column(sa.JSON, default=dict)

    def _text(self, field: str, language: str | None = None) -> Any:
        texts = self.translations if isinstance(self.translations, dict) else {}
        in_language = texts.get(language or page_language())
        text = in_language.get(field) if isinstance(in_language, dict) else None
        # A text of the wrong kind (typed by hand into the column) is not shown: the base one is.
        if not text or not isinstance(text, type(getattr(self, field))):
            return getattr(self, field)
        return text

    @property
    def shown_name(self) -> str:
        """The plan's name in the page's language."""
        return self._text("name")

    def name_in(self, language: str) -> str:
        """The plan's name in a language (its base name when it has none there)."""
        return self._text("name", language)

    @property
    def shown_description(self) -> str:
        """The plan's description in the page's language."""
        return self._text("description")

    @property
    def shown_features(self) -> list[str]:
        """The plan's features in the page's language."""
        return self._text("features")

    @property
    def interval_label(self) -> str:
        """'month' or 'year', for "per …" texts."""
        return str(Interval(self.interval))


@sa.event.listens_for(Plan, "before_insert")
@sa.event.listens_for(Plan, "before_update")
def _price_in_whole_minor_units(_mapper: Any, _connection: Any, plan: Plan) -> None:
    """A price the currency cannot carry (9,900.50 won) would be refused by iamport at every
    checkout: refuse it where the plan is written."""
    if Decimal(plan.price) % minor_unit(plan.currency):
        raise ValueError(f"{plan.currency} has {minor_digits(plan.currency)} decimal places; "
                         f"{plan.price} has more")


class Subscription(db.Model):
    """A user's subscription to a plan, charged through a billing key (`customer_uid`)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({sql_values(SubscriptionStatus)})", name="status"),
        sa.CheckConstraint(f"ended_reason IN ({sql_values(EndedReason)})", name="ended_reason"),
        # At most one subscription per user and plan that is being bought or is live.
        sa.Index("uq_subscriptions_open_per_user_plan", "user_id", "plan_id", unique=True,
                 sqlite_where=sa.text(f"status IN ({_OPEN_SUBSCRIPTION})"),
                 postgresql_where=sa.text(f"status IN ({_OPEN_SUBSCRIPTION})")),
        # At most one live subscription per shopper (a plan change replaces the plan instead);
        # incomplete ones may coexist, so an abandoned checkout never blocks another plan.
        sa.Index("uq_subscriptions_live_per_user", "user_id", unique=True,
                 sqlite_where=sa.text(_ONE_LIVE), postgresql_where=sa.text(_ONE_LIVE)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("plans.id"))
    status: Mapped[SubscriptionStatus] = mapped_column(enum_column(SubscriptionStatus, 20),
                                                       default=SubscriptionStatus.INCOMPLETE)
    # The billing key charged for renewals: the one whose first or card-change payment was paid.
    customer_uid: Mapped[Optional[str]] = mapped_column(sa.String(80))
    current_period_start: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    current_period_end: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # When the first period began (the first payment's paid_at): every period ends on this
    # date moved on by whole intervals (see periods.next_period_end), so ends do not drift.
    billing_anchor: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # PAYMENTWALL wants later charges made with the e-mail and name the key was issued with.
    buyer_email: Mapped[Optional[str]] = mapped_column(sa.String(254))
    buyer_name: Mapped[Optional[str]] = mapped_column(sa.String(121))
    # Set once iamport confirms the key (issuance webhook or customer lookup); `again` waits for it.
    billing_key_ready_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    canceled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Why it ended (set with canceled_at); None on rows ended before it was recorded.
    ended_reason: Mapped[Optional[EndedReason]] = mapped_column(enum_column(EndedReason, 20))
    # Failed renewals in a row, and when the first of them failed (iamport's clock); reset by
    # any paid charge. Retries are scheduled RENEWAL_RETRY_DAYS after that first failure.
    retry_count: Mapped[int] = mapped_column(default=0)
    past_due_since: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # The card of the billing key as iamport described it when the key was confirmed.
    card_name: Mapped[Optional[str]] = mapped_column(sa.String(60))
    card_number: Mapped[Optional[str]] = mapped_column(sa.String(30))
    # The shopper's consent to the recurring payment (정기결제 동의), given at checkout: when, and
    # which version of its text (payment_window.consent_text_id) they were shown.
    consent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    consent_version: Mapped[Optional[str]] = mapped_column(sa.String(20))
    # The order name of every payment and schedule of the subscription: the plan's name in the
    # language the shopper subscribed in, fixed then (receipts and statements keep one name).
    order_name: Mapped[Optional[str]] = mapped_column(sa.String(ORDER_NAME_LENGTH))
    # The subscription's own recurring amount a month (a yearly one ÷ 12), VAT included, in the
    # plan's currency: set at activation and at every change of amount (billing/mrr.py), kept
    # when it ends. MRR counts it while the subscription is live (active or past due).
    mrr_amount: Mapped[Optional[Decimal]] = mapped_column(Money)
    # What this subscriber pays each interval, in the plan's currency: the price they consented
    # to, fixed at activation. It differs from the plan's list price once the plan's price
    # changed (a new price applies only with the subscriber's consent) or a plan change set it.
    price: Mapped[Optional[Decimal]] = mapped_column(Money)
    # A downgrade waiting for the period's end (billing/plan_change.py): the plan and price the
    # next renewal charges and, once it is paid, the subscription takes.
    next_plan_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("plans.id"))
    next_price: Mapped[Optional[Decimal]] = mapped_column(Money)
    # Set by the migration that made one live subscription per shopper on all but the newest
    # of a shopper's live ones then: those are kept, and left out of the rule's index.
    kept_before_one_live: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=shop_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=shop_now, onupdate=shop_now)

    # Checked and raised by every update (optimistic concurrency): where row locks do nothing
    # (SQLite), an update made from a stale read fails instead of undoing another one.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    @property
    def name_for_orders(self) -> str:
        """The order name sent to iamport (the plan's base name on rows made before it was kept)."""
        return self.order_name or self.plan.name[:ORDER_NAME_LENGTH]

    @property
    def renewal_price(self) -> Decimal:
        """What the next renewal charges: the price of a downgrade waiting for it, else the
        subscriber's own price (the plan's, on a subscription not yet live)."""
        if self.next_price is not None:
            return self.next_price
        return self.price if self.price is not None else self.plan.price

    @property
    def card_last_four(self) -> str | None:
        """The last four digits of the card on file (iamport gives it masked, "400000******0001")."""
        digits = "".join(ch for ch in self.card_number or "" if ch.isdigit())
        return digits[-4:] if len(digits) >= 4 else None

    user: Mapped[User] = relationship(back_populates="subscriptions")
    plan: Mapped[Plan] = relationship(foreign_keys=[plan_id])
    next_plan: Mapped[Optional[Plan]] = relationship(foreign_keys=[next_plan_id])
    payments: Mapped[list["Payment"]] = relationship(back_populates="subscription")

    __mapper_args__ = {"version_id_col": version}
