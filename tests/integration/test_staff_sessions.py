"""Staff sessions held tighter than shoppers': no remember cookie, an idle timeout, the password
asked again for a money action after 15 minutes, log-ins in the audit log; the audit page."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest

from storefront.extensions import db
from storefront.models import AuditEntry, Payment, User
from tests.support.accounts import CONSENTS

STAFF = "sam@example.com"
PASSWORD = "correct horse"
TOKEN = re.compile(r'name="token" type="hidden" value="([^"]+)"')


def make_staff(app, email: str = STAFF) -> None:
    with app.app_context():
        db.session.execute(db.update(User).where(User.email == email).values(is_staff=True))
        db.session.commit()


@pytest.fixture
def staff(app, client, auth):
    """Sam, staff, logged in (a shopper's session ends when made staff: logged in afresh)."""
    auth.register(email=STAFF, first_name="Sam", last_name="Staff")
    auth.logout()
    make_staff(app)
    response = auth.login(email=STAFF)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def entries(app, **where) -> list[AuditEntry]:
    with app.app_context():
        query = db.select(AuditEntry).filter_by(**where).order_by(AuditEntry.id)
        rows = list(db.session.execute(query).scalars())
        db.session.expunge_all()
        return rows


def a_payment(app) -> int:
    """A paid payment of a shopper (Ada), recorded here only: no action may reach iamport."""
    with app.app_context():
        user = User(email="ada@example.com", first_name="Ada", last_name="Lovelace", password_hash="x")
        db.session.add(user)
        db.session.flush()
        payment = Payment(merchant_uid="sub_20261207_abc", imp_uid="imp_123", user_id=user.id,
                          amount=Decimal("9900"), currency="KRW", status="paid")
        db.session.add(payment)
        db.session.commit()
        return payment.id


@pytest.fixture
def iamport_calls(app, monkeypatch) -> list[str]:
    """The paths the shop's iamport client is asked for (none must be, in these tests)."""
    client = app.extensions["iamport"]
    seen: list[str] = []
    monkeypatch.setattr(client, "_call", lambda method, path, *a, **k: seen.append(path))
    return seen


# --------------------------------------------------------------------------- log-in


def test_a_staff_log_in_is_audited_and_sets_no_remember_cookie(app, client, auth):
    auth.register(email=STAFF, first_name="Sam", last_name="Staff")
    auth.logout()
    make_staff(app)
    response = client.post("/auth/login", data={"email": STAFF, "password": PASSWORD, "remember": "y"})
    assert response.status_code == 302
    cookies = " ".join(response.headers.getlist("Set-Cookie"))
    assert "remember_token=" not in cookies
    assert client.get("/admin").status_code == 200
    [entry] = entries(app, action="staff_login")
    with app.app_context():
        sam = db.session.execute(db.select(User).where(User.email == STAFF)).scalar_one()
    assert (entry.actor_id, entry.actor_email, entry.outcome, entry.remote_addr) == \
        (sam.id, STAFF, "ok", "127.0.0.1")


def test_a_shopper_still_gets_the_remember_cookie_and_no_audit_entry(app, client, auth):
    auth.register()
    auth.logout()
    response = client.post("/auth/login", data={"email": "ada@example.com", "password": PASSWORD,
                                                "remember": "y"})
    assert "remember_token=" in " ".join(response.headers.getlist("Set-Cookie"))
    assert entries(app) == []


def test_a_failed_log_in_of_staff_is_audited_a_shoppers_is_not(app, client, auth):
    auth.register()
    auth.logout()
    auth.register(email=STAFF, first_name="Sam", last_name="Staff")
    auth.logout()
    make_staff(app)
    assert auth.login(email=STAFF, password="wrong horse").status_code == 401
    assert auth.login(email="ada@example.com", password="wrong horse").status_code == 401
    [entry] = entries(app)
    assert (entry.action, entry.actor_email, entry.outcome) == ("staff_login_failed", STAFF, "refused")


def test_making_a_logged_in_shopper_staff_ends_that_session(app, client, auth, runner):
    auth.register(email=STAFF, first_name="Sam", last_name="Staff")
    assert runner.invoke(args=["staff", "grant", STAFF]).exit_code == 0
    # Its session began under a shopper's rules (perhaps with a remember cookie): log in again.
    assert client.get("/admin").status_code == 404
    assert auth.login(email=STAFF).status_code == 302
    assert client.get("/admin").status_code == 200


# --------------------------------------------------------------------------- idle timeout


def test_a_staff_session_ends_after_staff_session_minutes_without_activity(app, staff):
    with staff.session_transaction() as session:
        session["staff_seen_at"] = time.time() - 59 * 60
    assert staff.get("/account").status_code == 200  # active: it goes on, and counts from now
    with staff.session_transaction() as session:
        session["staff_seen_at"] = time.time() - 61 * 60
    response = staff.get("/account")  # any page, not only the back office
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert "without activity" in staff.get(response.headers["Location"]).get_data(as_text=True)
    assert staff.get("/admin").status_code == 404
    assert staff.get("/account").status_code == 302


def test_staff_session_minutes_is_a_setting(app_factory, monkeypatch):
    monkeypatch.setenv("STAFF_SESSION_MINUTES", "5")
    app = app_factory()
    assert app.config["STAFF_SESSION_MINUTES"] == 5
    client = app.test_client()
    client.post("/auth/register", data={"first_name": "Sam", "last_name": "Staff", "email": STAFF,
                                        "password": PASSWORD, "confirm": PASSWORD, **CONSENTS})
    client.post("/auth/logout")
    make_staff(app)
    client.post("/auth/login", data={"email": STAFF, "password": PASSWORD})
    with client.session_transaction() as session:
        session["staff_seen_at"] = time.time() - 6 * 60
    response = client.get("/admin")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert client.get("/admin").status_code == 404


# --------------------------------------------------------------------------- confirmation


def test_a_missing_reason_is_refused_clearly_and_nothing_is_done(app, staff, iamport_calls):
    payment_id = a_payment(app)
    page = staff.get(f"/admin/payments/{payment_id}/verify")
    assert page.status_code == 200
    token = TOKEN.search(page.get_data(as_text=True)).group(1)
    response = staff.post(f"/admin/payments/{payment_id}/verify", data={"token": token, "reason": "  "})
    assert response.status_code == 400
    assert "Please give a reason" in response.get_data(as_text=True)
    assert iamport_calls == []
    assert entries(app, action="verify") == []


def test_a_reason_over_500_characters_is_refused(app, staff, iamport_calls):
    payment_id = a_payment(app)
    page = staff.get(f"/admin/payments/{payment_id}/verify").get_data(as_text=True)
    response = staff.post(f"/admin/payments/{payment_id}/verify",
                          data={"token": TOKEN.search(page).group(1), "reason": "x" * 501})
    assert response.status_code == 400
    assert "500" in response.get_data(as_text=True)
    assert iamport_calls == []


def test_a_form_without_its_token_is_refused(app, staff, iamport_calls):
    payment_id = a_payment(app)
    response = staff.post(f"/admin/payments/{payment_id}/verify", data={"reason": "customer asked"})
    assert response.status_code == 400
    assert "open it again" in response.get_data(as_text=True)
    assert iamport_calls == []


def test_the_password_is_asked_again_15_minutes_after_the_log_in(app, staff, iamport_calls):
    payment_id = a_payment(app)
    path = f"/admin/payments/{payment_id}/verify"
    assert 'name="password"' not in staff.get(path).get_data(as_text=True)
    with staff.session_transaction() as session:
        session["staff_login_at"] = time.time() - 16 * 60
    page = staff.get(path).get_data(as_text=True)
    assert 'name="password"' in page
    token = TOKEN.search(page).group(1)

    missing = staff.post(path, data={"token": token, "reason": "customer asked"})
    assert missing.status_code == 401
    assert "password again" in missing.get_data(as_text=True)

    wrong = staff.post(path, data={"token": token, "reason": "customer asked", "password": "wrong"})
    assert wrong.status_code == 401
    assert "Wrong password" in wrong.get_data(as_text=True)
    assert iamport_calls == []
    assert entries(app, action="verify") == []
    [failure] = entries(app, action="reauth_failed")
    assert (failure.actor_email, failure.outcome, failure.target_type, failure.target_id) == \
        (STAFF, "refused", "payment", payment_id)


def test_five_wrong_passwords_end_the_staff_session(app, staff, iamport_calls):
    payment_id = a_payment(app)
    path = f"/admin/payments/{payment_id}/verify"
    with staff.session_transaction() as session:
        session["staff_login_at"] = time.time() - 16 * 60
    token = TOKEN.search(staff.get(path).get_data(as_text=True)).group(1)
    cookie_kept_aside = staff.get_cookie("session").value
    answers = [staff.post(path, data={"token": token, "reason": "r", "password": f"wrong {n}"})
               for n in range(5)]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 401, 302]
    assert "/auth/login" in answers[-1].headers["Location"]
    assert "too many times" in staff.get(answers[-1].headers["Location"]).get_data(as_text=True)
    assert staff.get("/admin").status_code == 404
    assert len(entries(app, action="reauth_failed")) == 5 and iamport_calls == []
    # A copy of the session cookie kept aside does not buy five more guesses.
    staff.set_cookie("session", cookie_kept_aside)
    assert staff.get("/admin").status_code == 404


# --------------------------------------------------------------------------- the audit page


def test_the_audit_page_lists_entries_newest_first_and_filters_by_action(app, staff, auth):
    auth.login(email="nobody@example.com", password="wrong")  # no entry: not a staff account
    page = staff.get("/admin/audit")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Staff log-in" in text and STAFF in text
    assert text.count('class="audit-entry"') == 1
    # A second log-in: listed first.
    staff.post("/auth/logout")
    staff.post("/auth/login", data={"email": STAFF, "password": PASSWORD})
    with app.app_context():
        db.session.execute(db.update(AuditEntry).where(AuditEntry.id == 1).values(detail="first"))
        db.session.execute(db.update(AuditEntry).where(AuditEntry.id == 2).values(detail="second"))
        db.session.commit()
    text = staff.get("/admin/audit").get_data(as_text=True)
    assert text.count('class="audit-entry"') == 2
    assert text.index("second") < text.index("first")
    filtered = staff.get("/admin/audit?action=verify").get_data(as_text=True)
    assert filtered.count('class="audit-entry"') == 0
    assert staff.get("/admin/audit?action=staff_login").get_data(as_text=True).count('class="audit-entry"') == 2
    assert staff.get("/admin/audit?page=0").status_code == 400
    assert staff.get("/admin/audit?page=abc").status_code == 400


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_audit_log_cannot_be_changed_from_the_back_office(app, staff, method):
    [entry] = entries(app, action="staff_login")
    for path in ("/admin/audit", f"/admin/audit/{entry.id}"):
        assert getattr(staff, method)(path, data={"outcome": "ok"}).status_code in (404, 405)
    assert staff.get(f"/admin/audit/{entry.id}/edit").status_code == 404
    assert staff.post(f"/admin/audit/{entry.id}/delete").status_code == 404
    [still] = entries(app, action="staff_login")
    assert (still.outcome, still.actor_email) == ("ok", STAFF)


def test_the_audit_page_is_not_found_for_a_shopper(client, auth):
    auth.register()
    assert client.get("/admin/audit").status_code == 404


# --------------------------------------------------------------------------- in Korean


def test_the_confirmation_and_audit_pages_read_in_korean(app, staff, iamport_calls):
    from tests.support.i18n import KOREAN, english_left

    payment_id = a_payment(app)
    path = f"/admin/payments/{payment_id}/verify"
    staff.post("/language", headers=KOREAN, data={"language": "ko", "next": "/"})  # the switch
    staff.get("/account", headers=KOREAN)  # shows (and so clears) the log-in's greeting
    with staff.session_transaction() as session:
        session["staff_login_at"] = time.time() - 16 * 60
    page = staff.get(path, headers=KOREAN).get_data(as_text=True)
    assert "결제 sub_20261207_abc 다시 확인" in page and "비밀번호를 다시 입력해 주십시오" in page
    # Order ids, the address and "#" are data, not words of the page.
    assert english_left(page, {"sub", "abc"}) == []
    refused = staff.post(path, headers=KOREAN, data={"token": TOKEN.search(page).group(1), "reason": ""})
    assert "사유를 입력해 주십시오." in refused.get_data(as_text=True)
    audit = staff.get("/admin/audit", headers=KOREAN).get_data(as_text=True)
    assert "감사 기록" in audit and "관리자 로그인" in audit
    assert english_left(audit, {"IP", "sam", "example", "com"}) == []


# --------------------------------------------------------------------------- the API others use


def test_a_token_used_meanwhile_undoes_the_change_written_with_it(app):
    """The pattern of an action done in our own transaction (a refund owed, say): when the same
    form's token was written by another request between the check and the commit, the unique
    index refuses the entry, and the change goes with it."""
    from storefront.admin.audit_log import record_action
    from storefront.admin.confirm import ActionCheck, new_token

    payment_id = a_payment(app)
    token = new_token()
    with app.test_request_context("/admin/payments/1/refund", method="POST"):
        record_action("refund", target_type="payment", target_id=payment_id, reason="first",
                      outcome="ok", detail="the first submission", token=token)
        db.session.commit()
        check = ActionCheck("refund", "payment", payment_id, reason="second", token=token)
        db.session.get(Payment, payment_id).status = "cancelled"  # the change of the second
        check.record("ok", detail="the second submission")
        answer = check.commit()
        assert answer is not None
        assert "already done" in answer and "the first submission" in answer
        assert db.session.get(Payment, payment_id).status == "paid"
    [entry] = entries(app, action="refund")
    assert (entry.reason, entry.detail) == ("first", "the first submission")
