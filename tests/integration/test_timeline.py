"""A subscription's timeline: events written with each change (and their cause), its webhooks and its mails."""

from __future__ import annotations

from flask import render_template_string

from storefront.admin.timeline import timeline_of
from storefront.extensions import db
from storefront.models import OutboxMessage, SubscriptionEvent
from tests.support.records import DAY, payments
from tests.support.waiting import wait_until


def events(shop, sub_id: int) -> list[SubscriptionEvent]:
    """The subscription's events, oldest first (detached)."""
    with shop.context():
        rows = list(db.session.execute(
            db.select(SubscriptionEvent).where(SubscriptionEvent.subscription_id == sub_id)
            .order_by(SubscriptionEvent.id)).scalars())
        for row in rows:
            db.session.expunge(row)
        return rows


def kinds(shop, sub_id: int) -> list[tuple[str, str]]:
    return [(event.kind, event.cause) for event in events(shop, sub_id)]


def test_a_bought_and_renewed_subscription_has_its_story_with_causes(shop, two):
    ada, _, (merchant_uid, imp_uid, sub_id), _ = two
    [first] = payments(shop, sub_id, kind="first")
    story = events(shop, sub_id)
    by_kind = {event.kind: event for event in story}
    # The consent, given on the checkout page by the shopper.
    assert by_kind["consent_given"].cause == "shopper"
    assert by_kind["consent_given"].detail["version"]
    # The first payment and the activation it brought: the callback or the webhook, whichever
    # came first, recorded both in one transaction.
    paid = by_kind["payment_paid"]
    assert paid.payment_id == first.id
    assert paid.cause in ("shopper", "webhook")
    assert paid.detail["amount"] == "9.00" and paid.detail["currency"] == "USD"
    assert paid.detail["merchant_uid"] == merchant_uid
    assert by_kind["activated"].cause == paid.cause
    assert by_kind["renewal_scheduled"].cause in ("shopper", "webhook")
    assert [kind for kind, _ in kinds(shop, sub_id)].count("activated") == 1

    shop.sandbox.advance(32 * DAY)
    wait_until(lambda: payments(shop, sub_id, kind="renewal", status="paid"), timeout=6,
               message="the renewal webhook")
    [renewal] = payments(shop, sub_id, kind="renewal", status="paid")
    later = events(shop, sub_id)
    renewed = [e for e in later if e.kind == "payment_paid" and e.payment_id == renewal.id]
    assert [e.cause for e in renewed] == ["webhook"]
    assert ("renewed", "webhook") in [(e.kind, e.cause) for e in later]
    assert all(e.occurred_at is not None for e in later)


def test_a_cancel_by_the_shopper_is_one_event_with_its_cause(shop, two):
    ada, _, (_, _, sub_id), _ = two
    before = len(events(shop, sub_id))
    ada.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "period_end"})
    # A second click changes nothing, so writes nothing.
    ada.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "period_end"})
    new = kinds(shop, sub_id)[before:]
    assert [k for k in new if k[0] == "cancel_requested"] == [("cancel_requested", "shopper")]
    ada.post_form(f"/account/subscriptions/{sub_id}/resume", {})
    assert ("resumed", "shopper") in kinds(shop, sub_id)
    ada.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "now"})
    ended = [e for e in events(shop, sub_id) if e.kind == "ended"]
    assert [(e.cause, e.detail["reason"]) for e in ended] == [("shopper", "cancelled")]
    with shop.app.test_request_context():
        [line] = [item for item in timeline_of(sub_id) if item.kind == "ended"]
        db.session.commit()
    assert (line.what, line.cause_label, line.detail) == ("Subscription ended", "Shopper", "cancelled")


def test_a_refused_cancel_writes_no_event(shop, two):
    ada, _, (_, _, sub_id), _ = two
    ada.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "now"})

    def by_the_shopper() -> list[int]:
        # The refund the cancel gave is settled by iamport's webhook whenever it comes: only
        # what the shopper's own requests wrote is counted.
        return [e.id for e in events(shop, sub_id) if e.cause == "shopper"]

    written = by_the_shopper()
    # Already ended: refused, and nothing is written.
    response = ada.post_form(f"/account/subscriptions/{sub_id}/cancel", {"when": "now"})
    assert "not active" in response.text
    assert by_the_shopper() == written


def test_mails_of_a_subscription_are_on_its_timeline_with_their_status(shop, two):
    _, _, (_, _, sub_id), (_, _, other_id) = two
    with shop.context():
        wait_until(lambda: db.session.execute(
            db.select(OutboxMessage.sent_at).where(OutboxMessage.subscription_id == sub_id,
                                                   OutboxMessage.kind == "contract")
        ).scalar() is not None, message="the contract mail sent")
        db.session.commit()
        mine = db.session.execute(db.select(OutboxMessage.kind).where(
            OutboxMessage.subscription_id == sub_id)).scalars().all()
    assert sorted(mine) == ["contract", "receipt"]
    with shop.app.test_request_context():
        items = timeline_of(sub_id)
        html = render_template_string('{% include "admin/_timeline.html" %}', timeline=items)
        db.session.commit()
    assert html.count("<li") == len(items) and "<ol" in html
    assert "Mail: contract confirmation" in html and "Payment paid" in html
    mails = [item for item in items if item.source == "mail"]
    assert sorted(item.kind for item in mails) == ["contract", "receipt"]
    contract = [item for item in mails if item.kind == "contract"]
    assert len(contract) == 1 and contract[0].status == "sent"
    # Newest first, and nothing of the other subscription.
    assert [item.when for item in items] == sorted((item.when for item in items), reverse=True)
    assert all(item.subscription_id == sub_id for item in items)
    assert any(item.source == "event" and item.kind == "payment_paid" for item in items)
    [paid] = [item for item in items if item.kind == "payment_paid"]
    assert "$9.00" in paid.detail and paid.cause in ("shopper", "webhook")
