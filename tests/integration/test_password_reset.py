"""Forgot password: a link mailed over real SMTP, valid one hour and once; the new password logs
the shopper in and every other session out."""

from __future__ import annotations

import pytest
from flask import has_request_context

from storefront.extensions import db
from storefront.mail import outbox
from storefront.models import User
from storefront.self_service import mails, password
from tests.support.i18n import ENGLISH, KOREAN
from tests.support.waiting import wait_until
from tests.support.self_service import (
    browser, link_in, log_in, logged_in, sign_up, submit,
)

SUBJECT = {"en": "Reset your password", "ko": "비밀번호 재설정 안내"}
SENT = {"en": "If ada@example.com has an account with us", "ko": "ada@example.com"}


@pytest.mark.parametrize("language,headers", [("en", ENGLISH), ("ko", KOREAN)])
def test_a_reset_link_sets_a_new_password_once(shop, sandbox, language, headers):
    other_device = sign_up(shop, "ada@example.com", headers)
    visitor = browser(shop, headers)
    answer = submit(shop, visitor, "/auth/forgot", {"email": "Ada@Example.com"})
    assert answer.status_code == 200
    assert SENT[language] in answer.text

    mail = [m for m in sandbox.wait_for_mail("ada@example.com", count=2)
            if m["subject"].strip() == SUBJECT[language]]
    assert len(mail) == 1, [m["subject"] for m in sandbox.mail("ada@example.com")]
    link = link_in(mail[0], "/auth/reset/")
    assert link.startswith(shop.url)

    done = submit(shop, visitor, link, {"password": "a new long secret", "confirm": "a new long secret"})
    assert done.status_code == 200 and done.url.endswith("/account"), done.text[:300]
    assert logged_in(shop, visitor)
    assert not logged_in(shop, other_device)  # every other session ended

    again = visitor.get(link, timeout=10)
    assert again.status_code == 400  # the link works once
    assert log_in(shop, browser(shop), "ada@example.com").status_code == 401
    assert log_in(shop, browser(shop), "ada@example.com", "a new long secret").url.endswith("/account")
    with shop.context():
        user = db.session.execute(db.select(User)).scalar_one()
        assert user.email_confirmed_at is not None  # the link reached the address


def test_the_answer_is_the_same_and_reached_by_the_same_work(shop, sandbox, monkeypatch):
    """Known and unknown addresses: the same page, made before the address is looked up; then
    one lookup, one token and one rendering each, and the mail, all after the answer."""
    sign_up(shop, "ada@example.com")
    work: list[tuple[str, bool]] = []
    real_find, real_token = password.find_user, mails.reset_token
    real_render, real_outbox_render, real_send = mails.render, outbox.render, outbox._send_one

    def step(name, real):
        return lambda *a, **k: work.append((name, has_request_context())) or real(*a, **k)

    monkeypatch.setattr(password, "find_user", step("lookup", real_find))
    monkeypatch.setattr(mails, "reset_token", step("token", real_token))
    monkeypatch.setattr(mails, "render", step("render", real_render))
    monkeypatch.setattr(outbox, "render", step("render", real_outbox_render))
    monkeypatch.setattr(outbox, "_send_one", step("send", real_send))

    answers = {}
    for email, steps in (("ada@example.com", ["lookup", "token", "render", "send"]),
                         ("nobody@example.com", ["lookup", "token", "render"])):
        work.clear()
        page = submit(shop, browser(shop), "/auth/forgot", {"email": email})
        answers[email] = (page.status_code, page.text.replace(email, "ADDRESS"))
        wait_until(lambda steps=steps: [name for name, _ in work] == steps,
                   message=f"the work after the answer for {email}: {work}")
        # None of it ran while the request was being answered.
        assert not any(in_request for _, in_request in work), work
    assert answers["ada@example.com"] == answers["nobody@example.com"]
    sandbox.wait_for_mail("ada@example.com", count=2)
    assert sandbox.mail("nobody@example.com") == []


def test_asking_again_and_again_mails_once(shop, sandbox):
    sign_up(shop, "ada@example.com")
    visitor = browser(shop)
    for _ in range(4):
        assert submit(shop, visitor, "/auth/forgot", {"email": "ada@example.com"}).status_code == 200
    sandbox.wait_for_mail("ada@example.com", count=2)
    with shop.context():
        from storefront.models import OutboxMessage
        kinds = db.session.execute(db.select(OutboxMessage.kind)).scalars().all()
    assert sorted(kinds) == ["email_confirm", "password_reset"]


def test_a_link_an_hour_old_or_tampered_is_refused(shop, sandbox, monkeypatch):
    import time as real_time

    sign_up(shop, "ada@example.com")
    visitor = browser(shop)
    submit(shop, visitor, "/auth/forgot", {"email": "ada@example.com"})
    mail = [m for m in sandbox.wait_for_mail("ada@example.com", count=2)
            if "/auth/reset/" in m["text"]][0]
    link = link_in(mail, "/auth/reset/")
    assert visitor.get(link[:-3] + "abc", timeout=10).status_code == 400
    later = real_time.time() + 3601
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    refused = visitor.get(link, timeout=10)
    assert refused.status_code == 400 and "expired" in refused.text
