"""The back office's list of payments: filters by status, kind, currency and dates, a page at a time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import render_template, request
from flask_babel import gettext as _
from sqlalchemy.orm import contains_eager

from storefront.admin import bp
from storefront.admin.listing import choice, fetch_page, page_args, page_number
from storefront.extensions import db
from storefront.formatting import shop_zone
from storefront.models import Payment, PaymentKind, PaymentStatus, Plan

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class PaymentFilter:
    """What the list is narrowed to; the dates are whole days of the shop's calendar."""

    status: str | None = None
    kind: str | None = None
    currency: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        """The WHERE clauses of this filter, on when each payment happened (Payment.occurred_at)."""
        found: list[sa.ColumnElement[bool]] = []
        if self.status:
            found.append(Payment.status == self.status)
        if self.kind:
            found.append(Payment.kind == self.kind)
        if self.currency:
            found.append(Payment.currency == self.currency)
        if self.date_from:
            found.append(Payment.occurred_at >= _start_of(self.date_from))
        if self.date_to:
            found.append(Payment.occurred_at < _start_of(self.date_to + timedelta(days=1)))
        return found


def _start_of(day: date) -> datetime:
    """Midnight of the day in the shop's time zone (stored as UTC by the column)."""
    return datetime.combine(day, time(0), tzinfo=shop_zone())


def _day(name: str, label: str, errors: list[str]) -> date | None:
    """The date field `name` (YYYY-MM-DD, as a date input sends it), or None when empty."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        if ISO_DATE.match(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    errors.append(_("Please enter the date as YYYY-MM-DD in “%(field)s”, for example %(example)s.",
                    field=label, example="2026-12-01"))
    return None


def read_filter(errors: list[str]) -> PaymentFilter:
    """The filters of the request; one it cannot be adds a message to `errors`."""
    status = choice("status", _("Status"), [str(s) for s in PaymentStatus], errors)
    kind = choice("kind", _("Kind"), [str(k) for k in PaymentKind], errors)
    currency = request.args.get("currency", "").strip().upper() or None
    if currency and not CURRENCY_CODE.match(currency):
        errors.append(_("Please choose one of the listed values for “%(field)s”.",
                        field=_("Currency")))
        currency = None
    date_from = _day("date_from", _("From"), errors)
    date_to = _day("date_to", _("To"), errors)
    if date_from and date_to and date_from > date_to:
        errors.append(_("The start date is after the end date."))
    return PaymentFilter(status, kind, currency, date_from, date_to)


def rows_query(chosen: PaymentFilter) -> sa.Select:
    """The payments found, newest first, each with its customer in the same query."""
    return (
        db.select(Payment).join(Payment.user).options(contains_eager(Payment.user))
        .where(*chosen.conditions())
        .order_by(Payment.occurred_at.desc(), Payment.id.desc())
    )


def count_query(chosen: PaymentFilter) -> sa.Select:
    """How many payments the filter finds."""
    return db.select(sa.func.count(Payment.id)).where(*chosen.conditions())


@bp.route("/payments")
def payments():
    """Payments by the filters, a page at a time."""
    errors: list[str] = []
    chosen = read_filter(errors)
    # The currencies of the plans, for the select (a payment's currency is its plan's).
    currencies = sorted(set(db.session.execute(db.select(Plan.currency).distinct()).scalars())
                        | ({chosen.currency} if chosen.currency else set()))
    page = None
    if not errors:
        page = fetch_page(rows_query(chosen), count_query(chosen), page_number())
    html = render_template("admin/payments.html", page=page, chosen=chosen, errors=errors,
                           statuses=list(PaymentStatus), kinds=list(PaymentKind),
                           currencies=currencies, page_args=page_args,
                           raw=lambda name: request.args.get(name, ""))
    return html, 400 if errors else 200
