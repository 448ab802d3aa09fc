"""The back office's list of subscriptions: one search box, filters by status and plan, pages, CSV."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import render_template, request
from flask_babel import gettext as _
from sqlalchemy.orm import contains_eager

from storefront.admin import bp
from storefront.admin.csv_export import csv_download
from storefront.admin.listing import choice, fetch_page, page_args, page_number
from storefront.extensions import db
from storefront.formatting import shop_time
from storefront.models import Payment, Plan, Subscription, SubscriptionStatus, User
from storefront.wording import interval_word, status_label

# Rows read from the database at a time while the CSV is sent.
CSV_BATCH = 500
SEARCH_MAX = 254


@dataclass(frozen=True)
class SubscriptionSearch:
    """What the list is narrowed to: the search box's text, a status, a plan."""

    text: str = ""
    status: str | None = None
    plan_id: int | None = None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        """The WHERE clauses of this search (the query joins User)."""
        found: list[sa.ColumnElement[bool]] = []
        if self.text:
            found.append(_matching(self.text))
        if self.status:
            found.append(Subscription.status == self.status)
        if self.plan_id is not None:
            found.append(Subscription.plan_id == self.plan_id)
        return found


def _matching(text: str) -> sa.ColumnElement[bool]:
    """Subscriptions whose customer's e-mail or name holds `text` (any letter case; a name in
    either order, 홍길동 as written), or one of whose payments has it as order id or imp_uid."""
    words = " ".join(text.lower().split())
    # Typed, so that `+` joins them as text (||), never adds them as numbers.
    first = sa.func.lower(User.first_name, type_=sa.String)
    last = sa.func.lower(User.last_name, type_=sa.String)
    # Order ids are exact: an uncorrelated subquery on their unique indexes, read once.
    by_payment = sa.select(Payment.subscription_id).where(
        sa.or_(Payment.merchant_uid == text, Payment.imp_uid == text))
    return sa.or_(
        sa.func.lower(User.email).contains(words, autoescape=True),
        (first + " " + last).contains(words, autoescape=True),
        (last + " " + first).contains(words, autoescape=True),
        (last + first).contains(words.replace(" ", ""), autoescape=True),
        Subscription.id.in_(by_payment),
    )


def read_search(plans: list[Plan], errors: list[str]) -> SubscriptionSearch:
    """The search and filters of the request; a filter it cannot be adds to `errors`."""
    text = " ".join(request.args.get("q", "").split())[:SEARCH_MAX]
    status = choice("status", _("Status"), [str(s) for s in SubscriptionStatus], errors)
    plan = choice("plan", _("Plan"), [str(p.id) for p in plans], errors)
    return SubscriptionSearch(text, status, int(plan) if plan else None)


def rows_query(search: SubscriptionSearch) -> sa.Select:
    """The subscriptions found, newest first, with their customer and plan in the same query."""
    return (
        db.select(Subscription)
        .join(Subscription.user).join(Subscription.plan)
        .options(contains_eager(Subscription.user), contains_eager(Subscription.plan))
        .where(*search.conditions())
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())
    )


def count_query(search: SubscriptionSearch) -> sa.Select:
    """How many subscriptions the search finds."""
    return (db.select(sa.func.count(Subscription.id)).select_from(Subscription)
            .join(Subscription.user).where(*search.conditions()))


def all_plans() -> list[Plan]:
    """Every plan, for the plan filter (a withdrawn plan still has subscribers)."""
    return list(db.session.execute(db.select(Plan).order_by(Plan.sort_order, Plan.id)).scalars())


@bp.route("/subscriptions")
def subscriptions():
    """Subscriptions found by the search box and filters, a page at a time."""
    plans = all_plans()
    errors: list[str] = []
    search = read_search(plans, errors)
    page = None
    if not errors:
        page = fetch_page(rows_query(search), count_query(search), page_number())
    html = render_template("admin/subscriptions.html", page=page, search=search, plans=plans,
                           statuses=list(SubscriptionStatus), errors=errors, page_args=page_args)
    return html, 400 if errors else 200


def _when(moment: datetime | None) -> str:
    """A moment as a spreadsheet reads it, in the shop's time zone: 2026-12-01 14:05."""
    return shop_time(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def _csv_rows(search: SubscriptionSearch) -> Iterator[list[Any]]:
    # Read in batches while the answer is sent: the whole list is never held in memory.
    query = rows_query(search).execution_options(yield_per=CSV_BATCH)
    for sub in db.session.execute(query).scalars():
        plan = sub.plan
        yield [sub.id, _when(sub.created_at), sub.user.first_name, sub.user.last_name,
               sub.user.email, plan.shown_name, status_label(sub.status),
               _when(sub.current_period_end), sub.renewal_price, plan.currency, interval_word(plan.interval)]


@bp.route("/subscriptions.csv")
def subscriptions_csv():
    """The subscriptions the current search and filters find, as a CSV file."""
    errors: list[str] = []
    search = read_search(all_plans(), errors)
    if errors:
        return render_template("admin/subscriptions.html", page=None, search=search,
                               plans=all_plans(), statuses=list(SubscriptionStatus),
                               errors=errors, page_args=page_args), 400
    header = ["ID", _("Created"), _("First name"), _("Last name"), _("E-mail"), _("Plan"),
              _("Status"), _("Current period ends"), _("Price"), _("Currency"), _("Interval")]
    return csv_download("subscriptions", header, _csv_rows(search))
