"""What a page says a subscription's ending now refunds, and why, in the shopper's language."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import ngettext

from storefront.billing.ending import NO_REFUND, EndingRefund
from storefront.formatting import date_long, money


def refund_said(refund: EndingRefund) -> str:
    """"₩19,800 will be refunded to your card." with why, or "Nothing is refunded." with why."""
    if refund.total > 0:
        amount = money(refund.total, refund.currency)
        if refund.withdrawal:
            return _("%(amount)s will be refunded to your card: within the withdrawal period (to the "
                     "end of %(date)s) everything you paid is refunded.", amount=amount,
                     date=last_day(refund))
        return ngettext("%(amount)s will be refunded to your card: the value of the %(num)d unused "
                        "whole day you paid for, at what you paid.",
                        "%(amount)s will be refunded to your card: the value of the %(num)d unused "
                        "whole days you paid for, at what you paid.", refund.days, amount=amount)
    if refund.basis == NO_REFUND:
        return _("Nothing is refunded: the withdrawal period has passed, and our terms refund no "
                 "unused time after it.")
    if refund.withdrawal:
        return _("Nothing is refunded: what you paid has already been refunded.")
    return _("Nothing is refunded: no whole unused day is left of the time you paid for.")


def last_day(refund: EndingRefund) -> str:
    """The withdrawal period's last day (it ends at that day's midnight, see ending.withdrawal_ends)."""
    if refund.withdrawal_until is None:
        return ""
    return date_long(refund.withdrawal_until - timedelta(seconds=1))
