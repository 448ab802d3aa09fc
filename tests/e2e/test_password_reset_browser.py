"""Forgot password in a real browser: the mail at the sandbox's SMTP server, its link, a new password, logged in; the link works once."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import _new_page
from tests.support.checkout_browser import register
from tests.support.waiting import wait_until

NEW_PASSWORD = "a brand new secret 42"
WORDS = {
    "en": {"forgot": "Forgot your password?", "email": "E-mail", "send": "Send the link",
           "subject": "Reset your password", "new": "New password", "repeat": "Repeat password",
           "save": "Save the new password", "account": "Your account", "log_out": "Log out"},
    "ko": {"forgot": "비밀번호를 잊으셨나요?", "email": "이메일", "send": "링크 보내기",
           "subject": "비밀번호 재설정", "new": "새 비밀번호", "repeat": "비밀번호 확인",
           "save": "새 비밀번호 저장", "account": "내 계정", "log_out": "로그아웃"},
}


@pytest.mark.parametrize("language", ["en", "ko"])
def test_forgot_password_mail_link_new_password_logged_in_link_used_once(browser, shop, language):
    words = WORDS[language]
    context, page = _new_page(browser, viewport={"width": 1280, "height": 900},
                              locale="ko-KR" if language == "ko" else "en-US")
    try:
        email = register(page, shop.url, heading=words["account"])
        page.get_by_role("button", name=words["log_out"]).click()
        page.goto(f"{shop.url}/auth/login")
        page.get_by_role("link", name=words["forgot"]).click()
        page.get_by_label(words["email"]).fill(email)
        page.get_by_role("button", name=words["send"]).click()

        mail = wait_until(lambda: [m for m in shop.sandbox.mail(email) if words["subject"] in m["subject"]],
                          timeout=8, message="the reset mail")[0]
        [link] = re.findall(r"https?://\S+/auth/reset/\S+", mail["text"])
        page.goto(link)
        page.get_by_label(words["new"], exact=True).fill(NEW_PASSWORD)
        page.get_by_label(words["repeat"]).fill(NEW_PASSWORD)
        page.get_by_role("button", name=words["save"]).click()
        page.wait_for_url(re.compile(re.escape(shop.url) + r"/account$"))
        expect(page.get_by_role("heading", name=words["account"])).to_be_visible()

        # The link worked once: opened again, it offers no form.
        page.goto(link)
        expect(page.get_by_role("button", name=words["save"])).to_have_count(0)
    finally:
        context.close()
