"""Where an event's cause comes from: the request's blueprint, or an explicit caused_by."""

from __future__ import annotations

from storefront.billing.events import caused_by, current_cause


def test_the_cause_follows_the_request_that_does_the_work(app):
    with app.test_request_context("/iamport/webhook", method="POST"):
        assert current_cause() == "webhook"
    with app.test_request_context("/admin/webhooks"):
        assert current_cause() == "staff"
    with app.test_request_context("/account"):
        assert current_cause() == "shopper"
    with app.app_context():
        assert current_cause() == "system"


def test_caused_by_overrides_innermost_first_and_ends_with_its_block(app):
    with app.test_request_context("/account"):
        with caused_by("reconcile"):
            assert current_cause() == "reconcile"
            with caused_by("clock"):
                assert current_cause() == "clock"
            assert current_cause() == "reconcile"
        assert current_cause() == "shopper"
