"""The operator page: the mailbox (list, one message), advancing to the next renewal, durations, phones."""
from __future__ import annotations

import html
import re
import smtplib
from email.message import EmailMessage
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.sandbox import new_uid

# A mail whose link leads to {link} and whose script and handler must never run.
HOSTILE_HTML = (
    '<html><head><title>x</title></head><body>'
    '<p>Your card was declined. <a id="fix" href="{link}">Use a new card</a></p>'
    '<script>window.top.document.title = "script ran"; window.top.scriptRan = true;</script>'
    '<img src="data:," onerror="window.top.scriptRan = true">'
    '</body></html>'
)


def _send(sandbox, to: str, subject: str, text: str, html_body: str | None = None) -> dict:
    message = EmailMessage()
    message["From"] = "Shop <shop@example.com>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    if html_body is not None:
        message.add_alternative(html_body, subtype="html")
    with smtplib.SMTP("127.0.0.1", sandbox.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
    return sandbox.wait_for_mail(to)[0]


def _page(sandbox, path: str = "") -> str:
    response = sandbox.http.get(f"{sandbox.url}/_sandbox{path}", timeout=10)
    assert response.status_code == 200, response.text
    return response.text


def test_the_page_lists_the_mail_with_links_to_each_message(sandbox):
    mail = _send(sandbox, "ada@example.com", "결제가 완료되었습니다", "Paid.\n")
    text = _page(sandbox)
    assert "결제가 완료되었습니다" in text
    assert "ada@example.com" in text
    assert f'href="/_sandbox/mail/{mail["id"]}"' in text


def test_a_message_shows_its_text_and_its_html_in_a_frame_without_scripts(sandbox):
    mail = _send(sandbox, "ada@example.com", "Payment failed", "Your card was declined.\n",
                 HOSTILE_HTML.replace("{link}", "http://127.0.0.1:9/account/card"))
    text = _page(sandbox, f"/mail/{mail['id']}")
    assert "Payment failed" in text and "ada@example.com" in text
    assert "<pre" in text and "Your card was declined." in text
    frame = re.search(r"<iframe[^>]*>", text).group(0)
    sandbox_attr = re.search(r'sandbox="([^"]*)"', frame).group(1)
    assert "allow-scripts" not in sandbox_attr and "allow-same-origin" not in sandbox_attr
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert 'href="http://127.0.0.1:9/account/card"' in srcdoc
    # The message's own script is never part of the page itself.
    assert "<script>window.top" not in text.replace(frame, "")


def test_an_unknown_message_is_a_readable_404(sandbox):
    response = sandbox.http.get(f"{sandbox.url}/_sandbox/mail/999999", timeout=10)
    assert response.status_code == 404
    assert "No such message" in response.text


def _schedule(sandbox, seconds_ahead: int) -> tuple[str, int]:
    customer_uid = new_uid("cust")
    sandbox.issue_billing_key(customer_uid)
    merchant_uid = new_uid("sched")
    at = sandbox.control("GET", "/clock")["now"] + seconds_ahead
    response = sandbox.api("POST", "/subscribe/payments/schedule", json={
        "customer_uid": customer_uid,
        "schedules": [{"merchant_uid": merchant_uid, "schedule_at": at, "amount": 5, "name": "Renewal"}]})
    assert response.json()["code"] == 0, response.text
    return merchant_uid, at


def test_advance_to_the_next_renewal_runs_it(sandbox):
    later_uid, _ = _schedule(sandbox, 60 * 86400)
    merchant_uid, at = _schedule(sandbox, 30 * 86400)
    answer = sandbox.control("POST", "/clock/advance-to-next-renewal")
    assert at + 1 <= answer["now"] <= at + 5
    assert any(merchant_uid in line for line in answer["ran"])
    assert not any(later_uid in line for line in answer["ran"])
    schedule = sandbox.api("GET", f"/subscribe/payments/schedule/{merchant_uid}").json()["response"]
    assert schedule["schedule_status"] == "executed"


def test_advance_to_the_next_renewal_without_one_is_refused(sandbox):
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/clock/advance-to-next-renewal", json={}, timeout=10)
    assert response.status_code == 409
    assert response.json()["error"] == "Nothing is scheduled."
    assert sandbox.control("GET", "/clock")["offset"] == 0


def test_the_page_offers_the_next_renewal(sandbox):
    merchant_uid, _ = _schedule(sandbox, 30 * 86400 + 2 * 3600)
    text = _page(sandbox)
    assert "Advance to the next renewal" in text
    assert re.search(r"in (29 days 23 hours|30 days( 1 hour| 2 hours)?)", text), "the time to the renewal"


def test_durations_are_told_in_days_and_hours(sandbox):
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/clock/advance", data={"seconds": str(32 * 86400 + 3 * 3600)},
                                 allow_redirects=False, timeout=10)
    assert response.status_code == 302
    message = parse_qs(urlsplit(response.headers["Location"]).query)["msg"][0]
    assert "32 days 3 hours" in message and "e+" not in message
    text = _page(sandbox)
    assert "32 days 3 hours ahead of real time" in text
    assert "e+0" not in text


def test_the_advance_form_takes_days(sandbox):
    sandbox.http.post(f"{sandbox.url}/_sandbox/clock/advance", data={"seconds": "2", "unit": "days"},
                      allow_redirects=False, timeout=10)
    assert 2 * 86400 <= sandbox.control("GET", "/clock")["offset"] < 2 * 86400 + 1


@pytest.fixture
def phone_page(chromium, request) -> Iterator[Any]:
    """A 375 px wide phone viewport (the narrowest common one)."""
    from tests.support.browser import screenshot_on_failure

    context = chromium["browser"].new_context(viewport={"width": 375, "height": 740}, is_mobile=True,
                                              has_touch=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    screenshot_on_failure(request, page)
    context.close()


def test_on_a_phone_the_pages_fit_and_the_mail_link_opens_without_its_scripts(phone_page, sandbox):
    _schedule(sandbox, 86400)
    link = f"{sandbox.url}/_sandbox/clock"
    mail = _send(sandbox, "ada@example.com", "Payment failed", "Your card was declined.\n",
                 HOSTILE_HTML.replace("{link}", link))
    page = phone_page
    for path in ("", f"/mail/{mail['id']}"):
        page.goto(f"{sandbox.url}/_sandbox{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"/_sandbox{path} is {width}px wide"
    frame = page.frame_locator("iframe")
    with page.context.expect_page() as opened:
        frame.locator("#fix").click()
    opened.value.wait_for_load_state()
    assert opened.value.url == link
    opened.value.close()
    assert page.evaluate("window.scriptRan") is None
    assert page.title() != "script ran"
