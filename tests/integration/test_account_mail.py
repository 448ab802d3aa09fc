"""Sign-up confirms the address, and the account's address and password change, by mail over real SMTP."""

from __future__ import annotations

import pytest

from storefront.extensions import db
from storefront.models import User
from tests.support.i18n import ENGLISH, KOREAN
from tests.support.records import payments
from tests.support.self_service import browser, link_in, log_in, logged_in, sign_up, submit
from tests.support.shop import Shopper
from tests.support.subscribing import subscribe

CONFIRM = {"en": "Confirm your e-mail address", "ko": "이메일 주소를 확인해 주십시오"}
UNCONFIRMED = {"en": "unconfirmed", "ko": "미확인"}
CHANGE = {"en": "Confirm your new e-mail address", "ko": "새 이메일 주소를 확인해 주십시오"}
CHANGED = {"en": "Your e-mail address was changed", "ko": "이메일 주소가 변경되었습니다"}


def subject(mail: dict) -> str:
    # A long encoded subject is folded onto its own line, which the mailbox reads back with the
    # fold's leading space.
    return mail["subject"].strip()


def stored_user(shop, **where) -> User:
    with shop.context():
        user = db.session.execute(db.select(User).filter_by(**where)).scalar_one()
        db.session.expunge(user)
        return user


@pytest.mark.parametrize("language,headers", [("en", ENGLISH), ("ko", KOREAN)])
def test_sign_up_saves_the_language_and_mails_a_link_that_confirms(shop, sandbox, language, headers):
    http = sign_up(shop, "ada@example.com", headers)
    user = stored_user(shop, email="ada@example.com")
    assert user.locale == language and user.email_confirmed_at is None
    account = http.get(f"{shop.url}/account", timeout=10)
    assert UNCONFIRMED[language] in account.text and 'data-testid="unconfirmed"' in account.text

    mail = sandbox.wait_for_mail("ada@example.com")[0]
    assert subject(mail) == CONFIRM[language]
    link = link_in(mail, "/account/confirm/")
    # Opened anywhere (a mail scanner, another browser): the page asks; the button confirms.
    assert browser(shop).get(link, timeout=10).status_code == 200
    assert stored_user(shop, email="ada@example.com").email_confirmed_at is None
    done = submit(shop, http, link)
    assert done.status_code == 200 and done.url.endswith("/account")
    assert 'data-testid="unconfirmed"' not in done.text
    assert stored_user(shop, email="ada@example.com").email_confirmed_at is not None


def test_resend_sends_no_second_mail_within_the_window(shop, sandbox):
    http = sign_up(shop, "ada@example.com")
    sandbox.wait_for_mail("ada@example.com")
    for _ in range(3):
        assert submit(shop, http, "/account/confirm/resend", page_path=f"{shop.url}/account").ok
    with shop.context():
        from storefront.models import OutboxMessage
        assert db.session.execute(db.select(db.func.count(OutboxMessage.id))).scalar_one() == 1


def test_change_password_asks_the_current_one_and_ends_other_sessions(shop, sandbox):
    here = sign_up(shop, "ada@example.com")
    # A copy of this session's cookies, as another device holding the same account would.
    there = browser(shop)
    there.cookies.update(here.cookies)
    assert logged_in(shop, there)
    wrong = submit(shop, here, "/account/password", {"current": "not it", "password": "a new long secret",
                                                     "confirm": "a new long secret"})
    assert wrong.status_code == 400 and "The current password is wrong." in wrong.text
    done = submit(shop, here, "/account/password", {"current": "correct horse",
                                                    "password": "a new long secret",
                                                    "confirm": "a new long secret"})
    assert done.status_code == 200 and done.url.endswith("/account")
    assert logged_in(shop, here) and not logged_in(shop, there)
    assert log_in(shop, browser(shop), "ada@example.com", "a new long secret").url.endswith("/account")
    # The owner is told, with the way back if it was not them.
    told = [m for m in sandbox.wait_for_mail("ada@example.com", count=2)
            if m["subject"] == "Your password was changed"]
    assert len(told) == 1 and "/auth/forgot" in told[0]["text"]


@pytest.mark.parametrize("language,headers", [("en", ENGLISH), ("ko", KOREAN)])
def test_a_new_address_is_confirmed_by_its_link_and_the_old_one_told(shop, sandbox, language, headers):
    http = sign_up(shop, "ada@example.com", headers)
    ada = Shopper(shop, http, "ada@example.com")
    sub_id = subscribe(shop, ada)
    asked = submit(shop, http, "/account/email", {"email": "ada.new@example.com", "current": "correct horse"})
    assert asked.status_code == 200 and "ada.new@example.com" in asked.text
    assert stored_user(shop, id=1).email == "ada@example.com"  # not before the link

    mail = sandbox.wait_for_mail("ada.new@example.com")[0]
    assert subject(mail) == CHANGE[language]
    link = link_in(mail, "/account/email/confirm/")
    done = submit(shop, browser(shop), link)
    assert done.status_code == 200
    user = stored_user(shop, id=1)
    assert user.email == "ada.new@example.com" and user.email_confirmed_at is not None
    told = [m for m in sandbox.wait_for_mail("ada@example.com", count=3)
            if subject(m) == CHANGED[language]]
    assert len(told) == 1 and "ada.new@example.com" in told[0]["text"]
    assert browser(shop).get(link, timeout=10).status_code == 400  # used

    # The key was issued with the old address: charges keep it.
    charged = ada.charge_now(sub_id)
    assert charged.status_code == 200
    repeat = payments(shop, sub_id, kind="repeat")
    assert [p.status for p in repeat] == ["paid"], [(p.status, p.fail_reason) for p in repeat]
    assert sandbox.payment(repeat[0].imp_uid)["buyer_email"] == "ada@example.com"


def test_an_address_with_an_account_is_not_taken_over(shop, sandbox):
    sign_up(shop, "grace@example.com", first="Grace", last="Hopper")
    http = sign_up(shop, "ada@example.com")
    refused = submit(shop, http, "/account/email", {"email": "GRACE@example.com", "current": "correct horse"})
    assert refused.status_code == 409
    wrong = submit(shop, http, "/account/email", {"email": "new@example.com", "current": "wrong"})
    assert wrong.status_code == 400
    assert sandbox.mail("new@example.com") == []


def test_a_password_change_kills_a_pending_change_of_address(shop, sandbox):
    # Someone who knew the password asked to move the account to their own address; the owner
    # changes the password before that link is used.
    owner = sign_up(shop, "ada@example.com")
    intruder = browser(shop)
    log_in(shop, intruder, "ada@example.com")
    submit(shop, intruder, "/account/email", {"email": "mallory@example.com", "current": "correct horse"})
    link = link_in(sandbox.wait_for_mail("mallory@example.com")[0], "/account/email/confirm/")
    # (The intruder's log-in ended the owner's session: the owner logs in again.)
    log_in(shop, owner, "ada@example.com")
    changed = submit(shop, owner, "/account/password", {
        "current": "correct horse", "password": "a new long secret", "confirm": "a new long secret"})
    assert changed.url.endswith("/account")
    assert browser(shop).get(link, timeout=10).status_code == 400
    assert stored_user(shop, id=1).email == "ada@example.com"
