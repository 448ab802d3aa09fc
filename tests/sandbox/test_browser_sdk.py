"""iamport.js in Chromium: a merchant page opens the window, desktop (callback) and mobile (redirect)."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from flask import Flask, request

from tests.support.sandbox import OTHER_GOOD_CARD, RENEWAL_DECLINE_CARD, WebhookSink, checkout_params
from tests.support.servers import serve_wsgi
from tests.support.waiting import wait_until

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Merchant checkout</title><script src="%(sdk)s"></script></head>
<body><h1>Checkout</h1><button id="pay" type="button">Pay now</button><pre id="result"></pre>
<script>
  var PARAM = %(param)s, INIT = %(init)s;
  document.getElementById('pay').addEventListener('click', function () {
    if (INIT) { IMP.init(%(code)s); }
    IMP.request_pay(PARAM, function (rsp) {
      window.__rsp = rsp;
      document.getElementById('result').textContent = JSON.stringify(rsp);
    });
  });
</script></body></html>"""


class Merchant:
    """A throwaway merchant site: a checkout page loading the SDK from the sandbox, and a return page."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        app = Flask("merchant")
        app.add_url_rule("/checkout", "checkout", self.checkout)
        app.add_url_rule("/return", "return", self.landing)
        self.served = serve_wsgi(app)

    def checkout(self):
        param = json.loads(request.args["p"])
        return PAGE % {
            "sdk": self.sandbox.sdk_url + request.args.get("sdk_query", ""),
            "param": json.dumps(param),
            "init": "true" if request.args.get("init", "1") == "1" else "false",
            "code": json.dumps(self.sandbox.imp_code),
        }

    def landing(self):
        return "<!doctype html><title>Returned</title><pre id='returned'>%s</pre>" % json.dumps(
            request.args.to_dict()).replace("<", "\\u003c")

    def checkout_url(self, param: dict, init: bool = True, sdk_query: str = "") -> str:
        return (f"{self.served.url}/checkout?p={quote(json.dumps(param))}&init={'1' if init else '0'}"
                f"&sdk_query={quote(sdk_query)}")

    def params(self, **overrides) -> dict:
        return checkout_params(m_redirect_url=f"{self.served.url}/return", **overrides)


@pytest.fixture
def merchant(sandbox):
    site = Merchant(sandbox)
    yield site
    site.served.stop()


def window_frame(page):
    return page.frame_locator('iframe[name="imp-sandbox-window"]')


def fill_card(target, card="4242 4242 4242 4242", cvv="123", expiry="12/39", holder="Ada Lovelace"):
    target.get_by_label("Card number").fill(card)
    target.get_by_label("Expiry").fill(expiry)
    target.get_by_label("CVV").fill(cvv)
    target.get_by_label("Card holder").fill(holder)
    target.get_by_role("button", name=re.compile(r"^Pay ")).click()


def callback_rsp(page) -> dict:
    page.wait_for_function("window.__rsp !== undefined")
    return page.evaluate("window.__rsp")


def pay_desktop(page, merchant, param, **card) -> dict:
    page.goto(merchant.checkout_url(param))
    page.click("#pay")
    frame = window_frame(page)
    frame.get_by_text("TEST MODE").wait_for()
    fill_card(frame, **card)
    rsp = callback_rsp(page)
    assert page.locator("#imp-sandbox-overlay").count() == 0, "the overlay should close"
    return rsp


def test_desktop_payment_reaches_the_callback(desktop_page, merchant, sandbox):
    param = merchant.params(custom_data={"plan": "pro"})
    page = desktop_page
    page.goto(merchant.checkout_url(param))
    page.click("#pay")
    overlay = page.locator("#imp-sandbox-overlay")
    overlay.wait_for()
    frame = window_frame(page)
    # The window shows the order and the test-mode banner.
    frame.get_by_text("Pro plan (monthly)").wait_for()
    assert frame.get_by_text("USD 9.99").first.is_visible()
    fill_card(frame)
    rsp = callback_rsp(page)
    assert rsp["success"] is True and rsp["imp_success"] is True and rsp["error_code"] is None
    assert rsp["merchant_uid"] == param["merchant_uid"] and rsp["imp_uid"].startswith("imp_")
    assert rsp["paid_amount"] == 9.99 and rsp["status"] == "paid" and rsp["pg_provider"] == "paymentwall"
    assert rsp["custom_data"] == {"plan": "pro"} and rsp["buyer_email"] == "ada@example.com"
    assert rsp["card_number"] == "424242******4242" and rsp["currency"] == "USD"
    assert page.locator("#imp-sandbox-overlay").count() == 0
    payment = sandbox.payment(rsp["imp_uid"])
    assert payment["status"] == "paid" and payment["channel"] == "pc"
    assert "HeadlessChrome" in payment["user_agent"] or "Chrome" in payment["user_agent"]


def test_mobile_payment_lands_on_m_redirect_url(mobile_page, merchant, sandbox):
    param = merchant.params()
    page = mobile_page
    page.goto(merchant.checkout_url(param))
    page.click("#pay")
    page.wait_for_url(re.compile(re.escape(sandbox.url) + r"/window/"))
    assert page.get_by_text("TEST MODE").is_visible()
    # The window fits a phone: nothing wider than the 390-px viewport.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    fill_card(page)
    page.wait_for_url(re.compile(re.escape(merchant.served.url) + r"/return\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["merchant_uid"] == [param["merchant_uid"]] and query["imp_success"] == ["true"]
    assert "error_code" not in query
    payment = sandbox.payment(query["imp_uid"][0])
    assert payment["status"] == "paid" and payment["channel"] == "mobile"


def test_mobile_decline_lands_with_the_error(mobile_page, merchant):
    page = mobile_page
    page.goto(merchant.checkout_url(merchant.params()))
    page.click("#pay")
    fill_card(page, cvv="222")
    page.wait_for_url(re.compile(r"/return\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["imp_success"] == ["false"] and query["error_code"] == ["F1002"] and query["error_msg"]


def test_mobile_bad_parameter_redirects_with_the_error(mobile_page, merchant):
    page = mobile_page
    page.goto(merchant.checkout_url(merchant.params(buyer_name="Ada")))
    page.click("#pay")
    page.wait_for_url(re.compile(r"/return\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["error_code"] == ["F0002"] and "buyer_name" in query["error_msg"][0]


def test_sandbox_mobile_parameter_forces_the_mobile_flow(desktop_page, merchant, sandbox):
    page = desktop_page
    page.goto(merchant.checkout_url(merchant.params(sandbox_mobile=True)))
    page.click("#pay")
    page.wait_for_url(re.compile(re.escape(sandbox.url) + r"/window/"))


def test_script_mode_query_forces_the_mobile_flow(desktop_page, merchant, sandbox):
    page = desktop_page
    page.goto(merchant.checkout_url(merchant.params(), sdk_query="?mode=mobile"))
    page.click("#pay")
    page.wait_for_url(re.compile(re.escape(sandbox.url) + r"/window/"))


def test_bad_parameter_gives_the_sdk_error(desktop_page, merchant):
    page = desktop_page
    page.goto(merchant.checkout_url(merchant.params(buyer_name="Ada")))
    page.click("#pay")
    rsp = callback_rsp(page)
    assert rsp["success"] is False and rsp["error_code"] == "F0002" and "buyer_name" in rsp["error_msg"]
    assert rsp["imp_uid"] is None
    assert page.locator("#imp-sandbox-overlay").count() == 0


def test_request_pay_before_init_gives_the_sdk_error(desktop_page, merchant):
    page = desktop_page
    page.goto(merchant.checkout_url(merchant.params(), init=False))
    page.click("#pay")
    rsp = callback_rsp(page)
    assert rsp["error_code"] == "F0001"


def test_closing_the_window_gives_the_user_cancel_error(desktop_page, merchant, sandbox):
    page = desktop_page
    param = merchant.params()
    page.goto(merchant.checkout_url(param))
    page.click("#pay")
    window_frame(page).get_by_role("button", name="Close the payment window").click()
    rsp = callback_rsp(page)
    assert rsp["success"] is False and rsp["error_code"] == "F1001" and rsp["error_msg"]
    assert page.locator("#imp-sandbox-overlay").count() == 0
    payment = sandbox.payment(rsp["imp_uid"])
    assert payment["status"] == "failed" and payment["paid_at"] == 0


def test_messages_from_other_origins_are_ignored(desktop_page, merchant):
    page = desktop_page
    page.goto(merchant.checkout_url(merchant.params()))
    page.click("#pay")
    window_frame(page).get_by_text("TEST MODE").wait_for()
    page.evaluate("""() => window.postMessage({type: 'imp-sandbox:result',
                     rsp: {success: true, imp_uid: 'imp_forged', error_code: null}}, '*')""")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__rsp") is None
    assert page.locator("#imp-sandbox-overlay").count() == 1


def test_card_form_errors_show_inline(desktop_page, merchant):
    page = desktop_page
    page.goto(merchant.checkout_url(merchant.params()))
    page.click("#pay")
    frame = window_frame(page)
    fill_card(frame, card="4242 4242 4242 4241", expiry="01/20")
    frame.get_by_text("This card number is not valid.").wait_for()
    assert frame.get_by_text("This card has expired.").is_visible()
    fill_card(frame)
    assert callback_rsp(page)["success"] is True


@pytest.mark.parametrize("card,cvv,error_code,words", [
    ("4242 4242 4242 4242", "123", None, None),
    (OTHER_GOOD_CARD, "123", None, None),
    (RENEWAL_DECLINE_CARD, "123", None, None),
    ("4242 4242 4242 4242", "111", "F1002", "CVV"),
    ("4242 4242 4242 4242", "222", "F1002", "balance"),
    ("4242 4242 4242 4242", "333", "F1002", "approve"),
])
def test_test_card_outcomes(desktop_page, merchant, sandbox, card, cvv, error_code, words):
    rsp = pay_desktop(desktop_page, merchant, merchant.params(), card=card, cvv=cvv)
    assert rsp["error_code"] == error_code
    if error_code is None:
        assert rsp["success"] is True and sandbox.payment(rsp["imp_uid"])["status"] == "paid"
    else:
        assert rsp["success"] is False and words in rsp["error_msg"]
        assert sandbox.payment(rsp["imp_uid"])["status"] == "failed"


@pytest.mark.parametrize("cvv,final_status", [("555", "paid"), ("556", "failed")])
def test_held_cards(desktop_page, merchant, sandbox, cvv, final_status):
    sink = WebhookSink().start()
    try:
        param = merchant.params(notice_url=sink.url)
        rsp = pay_desktop(desktop_page, merchant, param, cvv=cvv)
        assert rsp["success"] is False and rsp["error_code"] == "F1003"
        assert sandbox.payment(rsp["imp_uid"])["status"] == "failed"
        # The review ends after SANDBOX_REVIEW_DELAY: approved (paid) or declined (a new fail_reason).
        decided = wait_until(lambda: (p := sandbox.payment(rsp["imp_uid"]))["status"] == "paid"
                             or "after risk review" in (p["fail_reason"] or ""), timeout=5)
        assert sandbox.payment(rsp["imp_uid"])["status"] == final_status and decided
        if final_status == "paid":
            assert sink.wait_for(1) == [{"imp_uid": rsp["imp_uid"], "merchant_uid": param["merchant_uid"],
                                         "status": "paid"}]
        else:
            assert sink.bodies() == []
    finally:
        sink.stop()


def test_the_window_takes_the_focus_and_knows_the_buyers_name(desktop_page, merchant):
    page = desktop_page
    page.goto(merchant.checkout_url(merchant.params(buyer_name="Grace Hopper")))
    page.click("#pay")
    frame = window_frame(page)
    # Typing goes straight into the card number: no click needed first.
    frame.locator("#card_number").wait_for()
    page.wait_for_function("""() => document.activeElement && document.activeElement.tagName === 'IFRAME'""")
    page.keyboard.type("4242")
    assert frame.locator("#card_number").input_value().replace(" ", "") == "4242"
    assert frame.locator("#card_holder").input_value() == "Grace Hopper"


def test_escape_closes_the_window_as_its_close_button_does(desktop_page, merchant, sandbox):
    page = desktop_page
    page.goto(merchant.checkout_url(merchant.params()))
    page.click("#pay")
    window_frame(page).locator("#card_number").wait_for()
    page.keyboard.press("Escape")
    rsp = callback_rsp(page)
    assert rsp["success"] is False and rsp["error_code"] == "F1001"
    assert page.locator("#imp-sandbox-overlay").count() == 0


def test_escape_pressed_before_the_window_has_loaded_still_closes_it(desktop_page, merchant, sandbox):
    # A shopper who presses Escape as the window opens must not be left with a window that
    # ignores it: here its script is held back until Escape has been pressed.
    page = desktop_page
    held = []
    page.route("**/static/window.js", lambda route: held.append(route))
    page.goto(merchant.checkout_url(merchant.params()))
    page.click("#pay")
    # Route handlers run while Playwright is called, hence the evaluate.
    wait_until(lambda: page.evaluate("true") and held, message="the window's script was requested")
    page.keyboard.press("Escape")
    held[0].continue_()
    rsp = callback_rsp(page)
    assert rsp["success"] is False and rsp["error_code"] == "F1001"
    assert page.locator("#imp-sandbox-overlay").count() == 0


def test_a_korean_window_in_the_browser_keeps_its_focus_escape_and_holder_name(desktop_page, merchant, sandbox):
    page = desktop_page
    page.goto(merchant.checkout_url(merchant.params(language="ko", buyer_name="Grace Hopper")))
    page.click("#pay")
    assert page.locator('iframe[name="imp-sandbox-window"]').get_attribute("title") == "결제창"
    frame = window_frame(page)
    frame.get_by_text("테스트 모드").wait_for()
    page.wait_for_function("""() => document.activeElement && document.activeElement.tagName === 'IFRAME'""")
    page.keyboard.type("4242 4242 4242 4241")
    assert frame.get_by_label("카드 소유자 이름").input_value() == "Grace Hopper"
    frame.get_by_label("유효기간").fill("12/39")
    frame.get_by_label("보안코드").fill("123")
    frame.get_by_role("button", name=re.compile(r"결제하기$")).click()
    frame.get_by_text("올바른 카드 번호가 아닙니다.").wait_for()
    # Escape still closes it, with iamport's Korean words for a cancel.
    page.keyboard.press("Escape")
    rsp = callback_rsp(page)
    assert rsp["error_code"] == "F1001" and "사용자가 결제를 취소하셨습니다" in rsp["error_msg"]
