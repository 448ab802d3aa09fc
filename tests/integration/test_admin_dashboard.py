"""The dashboard staff see: counts, MRR per currency (VAT included), movements, charts, in both languages, in a fixed number of queries."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import event

from storefront.extensions import db
from storefront.models import User
from tests.support.i18n import ENGLISH, KOREAN, english_left
from tests.support.subscriptions_at import customer, end_unpaid, plan, subscribe

LONG_AGO = datetime.now(timezone.utc) - timedelta(days=70)


def staff(app, auth, headers=ENGLISH) -> None:
    """A staff member logged in, whose account speaks the language of `headers`."""
    auth.register(email="staff@example.com", headers=headers)
    with app.app_context():
        user = db.session.execute(db.select(User).where(User.email == "staff@example.com")).scalar_one()
        user.is_staff = True
        db.session.commit()
    auth.logout()  # the sign-up's session is a shopper's: staff log in afresh
    auth.login(email="staff@example.com", headers=headers, follow_redirects=True)  # its welcome read there


def shop_with(app, monthly: int, yearly_won: int, past_due: int = 0) -> None:
    """`monthly` customers on $9 a month, `yearly_won` on ₩99,000 a year, the first
    `past_due` of the monthly ones past due, and one ended after failed payments."""
    with app.app_context():
        basic = plan("basic", "9.00")
        won = plan("won", "99000", currency="KRW", interval="year")
        subs = [subscribe(customer(f"m{n}"), basic, LONG_AGO) for n in range(monthly)]
        for n in range(yearly_won):
            subscribe(customer(f"w{n}"), won, LONG_AGO)
        for sub in subs[:past_due]:
            sub.status = "past_due"
        db.session.commit()
        end_unpaid(subscribe(customer("gone"), basic, LONG_AGO), LONG_AGO + timedelta(days=20))


def figure(page: str, label: str) -> str:
    """The value shown beside a label in the figures list."""
    match = re.search(rf"<dt>{re.escape(label)}</dt>\s*<dd>(.*?)</dd>", page, re.S)
    assert match, f"no figure {label!r}"
    return re.sub(r"<[^>]+>|\s+", " ", match.group(1)).strip()


def test_staff_see_the_counts_and_mrr_they_made_in_english(app, client, auth):
    shop_with(app, monthly=3, yearly_won=2, past_due=1)
    staff(app, auth)
    page = client.get("/admin", headers=ENGLISH).get_data(as_text=True)
    assert figure(page, "Active subscriptions") == "4"
    assert figure(page, "Past-due subscriptions") == "1"
    # 3 × $9 and 2 × ₩99,000 ÷ 12 = ₩16,500.
    assert "$27.00" in page and "₩16,500" in page
    assert "VAT included" in page
    assert "Churn (after failed payments)" in page
    assert page.count("<svg") >= 2 and "<script" not in page


def test_staff_see_the_counts_and_mrr_they_made_in_korean(app, client, auth):
    shop_with(app, monthly=3, yearly_won=2, past_due=1)
    staff(app, auth, KOREAN)
    page = client.get("/admin", headers=KOREAN).get_data(as_text=True)
    assert figure(page, "이용 중인 구독") == "4"
    assert figure(page, "미결제 구독") == "1"
    assert "US$27.00" in page and "16,500원" in page
    assert "부가세 포함" in page
    assert "월간 반복 매출(MRR)" in page
    assert english_left(page, also_kept={"MRR"}) == []


def count_queries(app, client) -> int:
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.get("/admin").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(statements)


def test_the_dashboards_queries_do_not_grow_with_the_subscriptions(app, client, auth):
    shop_with(app, monthly=1, yearly_won=1)
    staff(app, auth)
    few = count_queries(app, client)
    shop_more(app, 6)
    assert count_queries(app, client) == few


def shop_more(app, more: int) -> None:
    from storefront.models import Plan

    with app.app_context():
        basic = db.session.execute(db.select(Plan).where(Plan.slug == "basic")).scalar_one()
        for n in range(more):
            subscribe(customer(f"more{n}"), basic, LONG_AGO)
