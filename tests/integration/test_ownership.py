"""Ownership over real HTTP: no page or action of one shopper reaches another's subscription or payment."""

from __future__ import annotations

from storefront.extensions import db
from storefront.models import Payment, Subscription


def recorded(shop, email):
    """Everything stored about one shopper's subscriptions and payments."""
    with shop.context():
        subs = db.session.execute(
            db.select(Subscription).where(Subscription.user.has(email=email))
            .order_by(Subscription.id)).scalars()
        payments = db.session.execute(
            db.select(Payment).where(Payment.user.has(email=email)).order_by(Payment.id)).scalars()
        return ([(s.id, s.status, s.customer_uid, s.cancel_at_period_end, s.current_period_end)
                 for s in subs],
                [(p.merchant_uid, p.status, p.kind, p.imp_uid) for p in payments])


def test_results_are_for_their_owner_only(shop, two):
    ada, grace, (ada_uid, ada_imp, _), (grace_uid, _, _) = two
    assert ada.get(f"/checkout/result/{ada_uid}").status_code == 200
    assert grace.get(f"/checkout/result/{grace_uid}").status_code == 200
    for who, other_uid in ((grace, ada_uid), (ada, grace_uid)):
        page = who.get(f"/checkout/result/{other_uid}")
        assert page.status_code == 404 and "This payment is not on your account." in page.text
        # The mobile return with someone else's order ends on the same 404, not on their result.
        back = who.get(f"/checkout/return?merchant_uid={other_uid}")
        assert back.status_code == 404 and "You are subscribed" not in back.text
    # Grace replaying Ada's callback learns nothing she could open, and changes nothing.
    before = recorded(shop, "ada@example.com")
    replay = grace.http.post(f"{shop.url}/checkout/complete",
                             json={"imp_uid": ada_imp, "merchant_uid": ada_uid},
                             headers={"X-CSRFToken": grace.csrf(grace.get("/account").text),
                                      "Accept": "application/json"}, timeout=15)
    if replay.status_code == 200:
        assert grace.get(replay.json()["redirect"]).status_code == 404
    assert recorded(shop, "ada@example.com") == before


def test_actions_on_another_shoppers_subscription_are_404(shop, two):
    _, grace, (_, _, ada_sub), (_, _, grace_sub) = two
    before = recorded(shop, "ada@example.com"), recorded(shop, "grace@example.com")
    calls_before = len(shop.sandbox.api("GET", f"/subscribe/customers/{_key(shop, ada_sub)}/payments")
                       .json()["response"]["list"])
    for page in ("cancel", "resume", "card"):
        response = grace.get(f"/account/subscriptions/{ada_sub}/{page}")
        assert response.status_code == 404, page
        assert "We could not find that subscription." in response.text
    charge = grace.charge_now(ada_sub)
    assert charge.status_code == 404
    for action, data in (("cancel", {"when": "now"}), ("cancel", {"when": "period_end"}),
                         ("resume", {})):
        response = grace.post_form(f"/account/subscriptions/{ada_sub}/{action}", data)
        assert response.status_code == 404, (action, data)
    # Nothing changed for either of them, here or at iamport (no charge on Ada's key).
    assert (recorded(shop, "ada@example.com"), recorded(shop, "grace@example.com")) == before
    calls_after = shop.sandbox.api("GET", f"/subscribe/customers/{_key(shop, ada_sub)}/payments")
    assert len(calls_after.json()["response"]["list"]) == calls_before
    # Her own subscription still answers her.
    assert grace.get(f"/account/subscriptions/{grace_sub}/cancel").status_code == 200


def _key(shop, sub_id) -> str:
    with shop.context():
        return db.session.get(Subscription, sub_id).customer_uid


def test_account_pages_show_only_their_owners_payments(shop, two):
    ada, grace, (ada_uid, _, ada_sub), (grace_uid, _, grace_sub) = two
    # A checkout a third shopper opened but never paid is hers alone too (Ada and Grace, live
    # subscribers, are offered a plan change instead of a second checkout).
    hedy = shop.shopper("hedy@example.com", "Hedy", "Lamarr")
    hedy_open = hedy.open_checkout("basic-yearly")["pay"]["merchant_uid"]
    pages = {"ada": ada.get("/account").text, "grace": grace.get("/account").text}
    assert f'data-merchant-uid="{ada_uid}"' in pages["ada"]
    assert f'data-merchant-uid="{grace_uid}"' in pages["grace"]
    assert f'data-subscription="{ada_sub}"' in pages["ada"]
    assert f'data-subscription="{grace_sub}"' in pages["grace"]
    for uid in (grace_uid, hedy_open):
        assert uid not in pages["ada"]
    assert hedy_open not in pages["grace"]
    assert f'data-subscription="{grace_sub}"' not in pages["ada"]
    assert "Premium" not in pages["ada"] and "grace@example.com" not in pages["ada"]
    assert ada_uid not in pages["grace"] and f'data-subscription="{ada_sub}"' not in pages["grace"]
    assert "ada@example.com" not in pages["grace"]
    # Another shopper's checkout for the plan Hedy just opened is a new order, never Hedy's.
    joan = shop.shopper("joan@example.com", "Joan", "Clarke")
    assert joan.open_checkout("basic-yearly")["pay"]["merchant_uid"] != hedy_open
