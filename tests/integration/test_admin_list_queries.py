"""Each back-office list asks the database the same number of times for 3 rows as for 30 (no N+1)."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from storefront import clock
from storefront.billing.events import record_event
from storefront.extensions import db
from storefront.models import AuditEntry, WebhookReceipt
from tests.support.accounts import AuthActions
from tests.support.apps import close_database, make_app
from tests.support.admin_rows import add_payment, add_plan, add_subscription, log_in_staff

LIST_PAGES = {
    "/admin/subscriptions": r'data-subscription="\d+"',
    "/admin/subscriptions?q=example": r'data-subscription="\d+"',
    "/admin/payments": r'data-payment="\d+"',
    "/admin/payments?currency=USD&date_from=2020-01-01": r'data-payment="\d+"',
    "/admin/plans": r'data-plan="[\w-]+"',
    "/admin/webhooks": r'data-receipt="\d+"',
    "/admin/audit": r'data-entry="\d+"',
}


@contextmanager
def counted(app):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def seed(app, rows: int) -> None:
    for n in range(rows):
        plan = add_plan(app, f"plan-{n}", f"Plan {n}")
        sub = add_subscription(app, plan, payments=[(f"first-{n}", f"imp_{n}")])
        add_payment(app, sub)
    with app.app_context():
        now = clock.now()
        for n in range(rows):
            db.session.add(WebhookReceipt(received_at=now, remote_addr="127.0.0.1", body={},
                                          imp_uid=f"imp_{n}", outcome="recorded"))
            db.session.add(AuditEntry(occurred_at=now, action="verify", target_type="payment",
                                      target_id=n + 1, outcome="ok", actor_email="staff@example.com"))
        db.session.commit()


def a_long_story(app, rows: int) -> str:
    """One subscription with `rows` payments, events and webhooks; its page's path."""
    plan = add_plan(app, "basic", "Basic")
    sub = add_subscription(app, plan, payments=[(f"first-{n}", f"imp_{n}") for n in range(rows)])
    with app.app_context():
        for n in range(rows):
            record_event(sub, "payment_paid", amount=n)
            db.session.add(WebhookReceipt(received_at=clock.now(), remote_addr="127.0.0.1", body={},
                                          imp_uid=f"imp_{n}", subscription_id=sub, outcome="recorded"))
        db.session.commit()
    return f"/admin/subscriptions/{sub}"


def queries_for(app, client, path: str, row_marker: str) -> tuple[int, int]:
    with counted(app) as statements:
        page = client.get(path)
    assert page.status_code == 200
    return len(statements), len(re.findall(row_marker, page.get_data(as_text=True)))


def queries_at(tmp_path, rows: int, make_rows, path: str | None, row_marker: str) -> int:
    """The queries of one page of a fresh shop holding `rows` rows (made by `make_rows`, which
    may name the page), checked to show them all."""
    (tmp_path / str(rows)).mkdir()
    app = make_app(tmp_path / str(rows))
    try:
        client = app.test_client()
        log_in_staff(app, AuthActions(client))
        path = make_rows(app, rows) or path
        queries, shown = queries_for(app, client, path, row_marker)
    finally:
        close_database(app)
    assert shown >= rows
    return queries


@pytest.mark.parametrize("path", LIST_PAGES)
def test_the_number_of_queries_does_not_grow_with_the_rows(tmp_path, path):
    counts = {rows: queries_at(tmp_path, rows, seed, path, LIST_PAGES[path]) for rows in (3, 30)}
    assert counts[30] == counts[3], counts
    assert counts[3] <= 6, counts


def test_a_subscriptions_page_asks_as_often_for_a_long_story_as_for_a_short_one(tmp_path):
    counts = {rows: queries_at(tmp_path, rows, a_long_story, None, r"imp_\d+") for rows in (3, 30)}
    assert counts[30] == counts[3], counts
