"""The back office's first page: live subscriptions, MRR and its movements, what needs attention, the last twelve months."""

from __future__ import annotations

from babel.dates import format_date
from flask import render_template
from flask_babel import gettext as _

from storefront import clock
from storefront.admin import bp, metrics
from storefront.admin.charts import line_chart
from storefront.formatting import money
from storefront.i18n import page_language

# Month names as each language writes them: on the axis, and in full in the tables.
SHORT_MONTH = {"ko": "M월", "en": "MMM"}
LONG_MONTH = {"ko": "y년 M월", "en": "MMMM y"}


def _movement_rows():
    """The movement lines of the table, in the order that adds up: (label, amount, count, sign)."""
    return [
        (_("MRR at the start of the month"), "start", None, ""),
        (_("New"), "new", "new_count", "+"),
        (_("Expansion"), "expansion", "expansion_count", "+"),
        (_("Reactivation"), "reactivation", "reactivation_count", "+"),
        (_("Contraction"), "contraction", "contraction_count", "−"),
        (_("Churn (the customer's choice)"), "churn_voluntary", "churn_voluntary_count", "−"),
        (_("Churn (after failed payments)"), "churn_involuntary", "churn_involuntary_count", "−"),
        (_("MRR now"), "end", None, ""),
    ]


def _charts(history):
    """One MRR chart per currency (each on its own scale: won and dollars do not share an
    axis) and one of live subscriptions, each with the figures as a table."""
    language = page_language()
    short = [format_date(month, SHORT_MONTH[language], locale=language) for month in history.months]
    long = [format_date(month, LONG_MONTH[language], locale=language) for month in history.months]
    charts = []
    for currency, values in history.mrr.items():
        texts = [money(value, currency) for value in values]
        title = _("MRR in %(currency)s at each month's end (VAT included)", currency=currency)
        charts.append({"title": title, "rows": list(zip(long, texts)),
                       "svg": line_chart(title, short, values, texts, chart_id=f"mrr-{currency}")})
    texts = [str(count) for count in history.live]
    title = _("Live subscriptions (active or past due) at each month's end")
    charts.append({"title": title, "rows": list(zip(long, texts)),
                   "svg": line_chart(title, short, history.live, texts, chart_id="live")})
    return charts


# "/admin" and "/admin/" alike: a redirect from one to the other would answer strangers too.
@bp.route("", strict_slashes=False)
def dashboard():
    """The figures of the business now and this month, each from one aggregate query."""
    now = clock.now()
    language = page_language()
    history = metrics.history(now)
    return render_template(
        "admin/dashboard.html",
        counts=metrics.live_counts(),
        mrr=metrics.mrr_by_currency(),
        movements=metrics.movements(now),
        movement_rows=_movement_rows(),
        month=format_date(history.months[-1], LONG_MONTH[language], locale=language),
        failed_renewals=metrics.failed_renewals(now),
        refunds_owed=metrics.refunds_owed(),
        failed_webhooks=metrics.failed_webhooks(now),
        charts=_charts(history),
    )
