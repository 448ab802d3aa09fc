"""The "payment failed" mail in a real browser: its link opens the card page, and a new card pays the overdue renewal."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from storefront import billing
from tests.e2e.conftest import _new_page
from tests.e2e.test_card_page_browser import sign_up_and_subscribe
from tests.support.checkout_browser import order_number, pay_in_window, result_url, wait_for_charge_button, window_frame
from tests.support.records import registered
from tests.support.sandbox import OTHER_GOOD_CARD, RENEWAL_DECLINE_CARD
from tests.support.waiting import wait_until


def test_the_payment_failed_mail_leads_to_a_new_card_that_pays_the_overdue_renewal(browser, shop):
    context, page = _new_page(browser, viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        first_uid = sign_up_and_subscribe(page, shop, "en", RENEWAL_DECLINE_CARD)
        wait_for_charge_button(page, shop.url)
        with shop.context():
            first = billing.payment_by_merchant_uid(first_uid)
            sub_id, email = first.subscription_id, first.user.email
        wait_until(lambda: registered(shop, sub_id), timeout=6, message="the renewal at iamport")
        shop.sandbox.advance(32 * 86400)

        def failed_mail() -> dict | None:
            found = [m for m in shop.sandbox.mail(email)
                     if m["subject"].startswith("Your payment for Basic failed")]
            return found[0] if found else None

        mail = wait_until(failed_mail, timeout=8, message="the payment failed mail")
        [link] = re.findall(r"https?://\S+/card", mail["text"])
        # The shopper follows the mail's link (the session of this browser is still logged in).
        page.goto(link)
        page.wait_for_url(f"{shop.url}/account/subscriptions/{sub_id}/card")
        page.locator("#pay-button:not([disabled])").wait_for()
        page.check("#consent")
        page.click("#pay-button")
        merchant_uid = order_number(page)
        pay_in_window(window_frame(page), card=OTHER_GOOD_CARD)
        page.wait_for_url(result_url(shop.url, merchant_uid))
        # It paid the overdue renewal: one more month, not "the next month".
        expect(page.get_by_text("it paid one more month")).to_be_visible()
        page.goto(f"{shop.url}/account")
        expect(page.locator("article.subscription h3 .badge")).to_have_text("active")
        # The new card's receipt follows.
        wait_until(lambda: [m for m in shop.sandbox.mail(email)
                            if merchant_uid in m["text"] and m["subject"].startswith("Receipt:")],
                   timeout=8, message="the new card's receipt")
    finally:
        context.close()
