"""The back office's plans: subscribers per plan, a new plan in both languages, edits, sale on and off."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from storefront.extensions import db
from storefront.models import Plan, User
from tests.support.admin_rows import staff_reads_korean, add_plan, add_subscription, log_in_staff
from tests.support.i18n import KOREAN, english_left

NEW_PLAN = {
    "slug": "team-monthly", "name": "Team", "description": "For teams.",
    "features": "Ten seats\r\n\r\n  Shared projects  \r\n", "name_ko": "팀",
    "description_ko": "팀을 위한 요금제입니다.", "features_ko": "좌석 10개\n공유 프로젝트",
    "price": "29.00", "currency": "USD", "interval": "month",
}


def plan(app, slug: str) -> Plan | None:
    with app.app_context():
        row = db.session.execute(db.select(Plan).where(Plan.slug == slug)).scalar_one_or_none()
        if row is not None:
            db.session.expunge(row)
        return row


@pytest.fixture
def staff(app, auth):
    log_in_staff(app, auth)


def test_the_list_counts_live_subscribers_per_plan(app, client, auth):
    basic = add_plan(app, "basic", "Basic")
    add_plan(app, "empty", "Empty")
    for status in ("active", "active", "past_due", "canceled", "incomplete"):
        add_subscription(app, basic, status=status)
    log_in_staff(app, auth)
    page = client.get("/admin/plans").get_data(as_text=True)
    counts = dict(re.findall(r'data-plan="([\w-]+)"[^>]*data-subscribers="(\d+)"', page))
    assert counts == {"basic": "3", "empty": "0"}


def test_create_a_plan_in_both_languages(app, client, staff):
    response = client.post("/admin/plans/new", data=NEW_PLAN, follow_redirects=True)
    assert response.status_code == 200
    assert "Team" in response.get_data(as_text=True)
    made = plan(app, "team-monthly")
    assert made is not None and made.active
    assert (made.name, made.description, made.price, made.currency, str(made.interval)) == \
        ("Team", "For teams.", Decimal("29.00"), "USD", "month")
    assert made.features == ["Ten seats", "Shared projects"]
    assert made.translations == {"ko": {"name": "팀", "description": "팀을 위한 요금제입니다.",
                                        "features": ["좌석 10개", "공유 프로젝트"]}}
    # The shop sells it in Korean with its Korean texts.
    staff_reads_korean(app)
    assert "팀을 위한 요금제입니다." in client.get("/", headers=KOREAN).get_data(as_text=True)


@pytest.mark.parametrize("price, currency, message", [
    ("9900.5", "KRW", "KRW has no decimal places"),
    ("9.001", "USD", "USD has at most 2 decimal places"),
    ("0", "USD", "more than zero"),
    ("-5", "USD", "more than zero"),
    ("nine", "USD", "Please enter the price as a number"),
    ("NaN", "USD", "Please enter the price as a number"),
    ("1e400", "USD", "Please enter the price as a number"),
    ("99999999999", "USD", "too large"),
])
def test_a_bad_price_is_refused_with_a_message(app, client, staff, price, currency, message):
    response = client.post("/admin/plans/new", data={**NEW_PLAN, "price": price,
                                                     "currency": currency})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert plan(app, "team-monthly") is None


@pytest.mark.parametrize("field, value, message", [
    ("slug", "basic", "already taken"),
    ("slug", "Not A Slug!", "lower-case letters"),
    ("name", "", "Please enter"),
    ("name_ko", "", "Please enter"),
    ("currency", "XYZ", "Please choose"),
    ("interval", "week", "Please choose"),
])
def test_other_bad_fields_are_refused(app, client, staff, field, value, message):
    add_plan(app, "basic", "Basic")
    response = client.post("/admin/plans/new", data={**NEW_PLAN, field: value})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert plan(app, "team-monthly") is None


def test_edit_texts_of_a_plan_with_subscribers_but_not_its_price(app, client, auth):
    basic = add_plan(app, "basic", "Basic", translations={"ko": {"name": "베이직"}})
    add_subscription(app, basic)
    log_in_staff(app, auth)
    form = client.get(f"/admin/plans/{basic}/edit").get_data(as_text=True)
    assert "consent" in form and 'name="price"' not in form
    response = client.post(f"/admin/plans/{basic}/edit", data={
        "name": "Basic+", "description": "Better.", "features": "One\nTwo", "name_ko": "베이직+",
        "description_ko": "더 좋습니다.", "features_ko": "하나\n둘",
        "price": "1.00", "currency": "KRW", "interval": "year",
    }, follow_redirects=True)
    assert response.status_code == 200
    edited = plan(app, "basic")
    assert (edited.name, edited.description, edited.features) == ("Basic+", "Better.", ["One", "Two"])
    assert edited.translations["ko"] == {"name": "베이직+", "description": "더 좋습니다.",
                                         "features": ["하나", "둘"]}
    assert (edited.price, edited.currency, str(edited.interval)) == (Decimal("9.00"), "USD", "month")


def test_edit_the_price_of_a_plan_without_subscribers(app, client, staff):
    basic = add_plan(app, "basic", "Basic")
    response = client.post(f"/admin/plans/{basic}/edit", data={
        **NEW_PLAN, "slug": "basic", "price": "12000", "currency": "KRW", "interval": "year"},
        follow_redirects=True)
    assert response.status_code == 200
    edited = plan(app, "basic")
    assert (edited.price, edited.currency, str(edited.interval)) == (Decimal("12000"), "KRW", "year")


def test_withdraw_and_put_back_on_sale(app, client, auth):
    basic = add_plan(app, "basic", "Basic")
    sub = add_subscription(app, basic)
    log_in_staff(app, auth)
    response = client.post(f"/admin/plans/{basic}/sale", data={"on_sale": "0"},
                           follow_redirects=True)
    assert response.status_code == 200
    assert plan(app, "basic").active is False
    assert "Basic" not in client.get("/").get_data(as_text=True).split("<main", 1)[-1]
    # The subscriber keeps it.
    from storefront.models import Subscription
    with app.app_context():
        assert db.session.get(Subscription, sub).status == "active"
    client.post(f"/admin/plans/{basic}/sale", data={"on_sale": "1"})
    assert plan(app, "basic").active is True


def test_unknown_plan_is_404(client, staff):
    assert client.get("/admin/plans/999/edit").status_code == 404
    assert client.post("/admin/plans/999/sale", data={"on_sale": "0"}).status_code == 404


@pytest.mark.parametrize("path", ["/admin/plans/new", "/admin/plans/1/edit", "/admin/plans/1/sale"])
def test_a_shopper_post_is_404_and_changes_nothing(app, client, auth, path):
    add_plan(app, "basic", "Basic")
    auth.register()
    response = client.post(path, data={**NEW_PLAN, "on_sale": "0"})
    assert response.status_code == 404
    assert plan(app, "basic").active is True and plan(app, "team-monthly") is None
    auth.logout()
    assert client.post(path, data=NEW_PLAN).status_code == 404


def test_the_plan_pages_in_korean(app, client, auth):
    basic = add_plan(app, "basic", "Basic")
    add_subscription(app, basic)
    log_in_staff(app, auth)
    staff_reads_korean(app)
    kept = {"Sam", "Staff", "Basic", "basic"}
    for path in ("/admin/plans", "/admin/plans/new", f"/admin/plans/{basic}/edit"):
        page = client.get(path, headers=KOREAN).get_data(as_text=True)
        assert "요금제" in page
        assert english_left(page, kept) == [], path


def test_withdraw_needs_the_pages_csrf_token(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    basic = add_plan(app, "basic", "Basic")
    with app.app_context():
        boss = User(email="boss@example.com", first_name="Sam", last_name="Staff", is_staff=True)
        boss.set_password("correct horse")
        db.session.add(boss)
        db.session.commit()
    # Log in through the form, with its token.
    login_page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)
    client.post("/auth/login", data={"email": "boss@example.com", "password": "correct horse",
                                     "csrf_token": token})
    assert client.post(f"/admin/plans/{basic}/sale", data={"on_sale": "0"}).status_code == 400
    assert plan(app, "basic").active is True
    page = client.get("/admin/plans").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    client.post(f"/admin/plans/{basic}/sale", data={"on_sale": "0", "csrf_token": token})
    assert plan(app, "basic").active is False


def test_every_plan_change_is_in_the_audit_log(app, client, staff):
    from storefront.models import AuditEntry

    client.post("/admin/plans/new", data=NEW_PLAN)
    made = plan(app, "team-monthly")
    client.post(f"/admin/plans/{made.id}/edit", data={**NEW_PLAN, "name": "Team plus"})
    client.post(f"/admin/plans/{made.id}/sale", data={"on_sale": "0"})
    client.post(f"/admin/plans/{made.id}/sale", data={"on_sale": "1"})
    with app.app_context():
        entries = db.session.execute(
            db.select(AuditEntry.action, AuditEntry.target_type, AuditEntry.target_id,
                      AuditEntry.outcome, AuditEntry.actor_email)
            .where(AuditEntry.target_type == "plan").order_by(AuditEntry.id)).all()
    staff_email = entries[0].actor_email
    assert staff_email and "@" in staff_email
    assert [tuple(e) for e in entries] == [
        ("plan_create", "plan", made.id, "ok", staff_email),
        ("plan_edit", "plan", made.id, "ok", staff_email),
        ("plan_withdrawn", "plan", made.id, "ok", staff_email),
        ("plan_on_sale", "plan", made.id, "ok", staff_email),
    ]
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "Plan withdrawn from sale" in page and "Plan put back on sale" in page
