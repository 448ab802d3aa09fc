"""iamport's REST API mocked with `responses` below the client: its address, its payment records."""

from __future__ import annotations

import json

API = "http://127.0.0.1:5001"


def iamport_payment(**overrides) -> dict:
    """iamport's record of the first payment of order sub_test_1 (paid), with overrides."""
    info = {"imp_uid": "imp_1", "merchant_uid": "sub_test_1", "amount": 9, "currency": "USD",
            "status": "paid", "customer_uid": "cu_1_abc", "customer_uid_usage": "issue",
            "paid_at": 1790000000, "fail_reason": None, "pg_provider": "paymentwall",
            "pg_id": "mid1", "sandbox": False}
    info.update(overrides)
    return info


def serve_payment(api, **overrides) -> None:
    """GET /payments/imp_1 answers iamport_payment(**overrides)."""
    api.get(f"{API}/payments/imp_1", json={"code": 0, "message": None,
                                           "response": iamport_payment(**overrides)})


def paid_listing(api, *pages: list[dict]) -> None:
    """GET /payments/status/paid answers these pages of payments in turn (one empty page when
    none is given), each naming the next."""
    answers = list(pages) or [[]]

    def page(request):
        number = int(request.params.get("page") or 1)
        listed = answers[number - 1]
        following = number + 1 if number < len(answers) else 0
        return 200, {}, json.dumps({"code": 0, "message": None, "response": {
            "total": sum(map(len, answers)), "previous": number - 1, "next": following,
            "list": listed}})

    api.add_callback("GET", f"{API}/payments/status/paid", callback=page)


def key_unknown(api) -> None:
    """iamport has no billing key cu_1_abc (yet)."""
    api.get(f"{API}/subscribe/customers/cu_1_abc", status=404,
            json={"code": -1, "message": "no such customer", "response": None})


def lookups(api) -> int:
    """REST lookups of payments the storefront made (GET /payments/...)."""
    return sum(1 for call in api.calls
               if call.request.method == "GET" and "/payments/" in call.request.url)


def unschedule_revokes(api) -> None:
    """POST /subscribe/payments/unschedule answers as iamport does when it revoked what was
    asked: the schedules, each now "revoked"."""
    def revoked(request):
        body = json.loads(request.body)
        schedules = [{"merchant_uid": uid, "customer_uid": body.get("customer_uid"),
                      "schedule_status": "revoked"} for uid in body.get("merchant_uid") or []]
        return 200, {}, json.dumps({"code": 0, "message": None, "response": schedules})

    api.add_callback("POST", f"{API}/subscribe/payments/unschedule", callback=revoked)


def unscheduled_uids(api) -> list[list[str]]:
    """The merchant_uids of each unschedule the storefront sent, in order."""
    return [json.loads(call.request.body)["merchant_uid"] for call in api.calls
            if call.request.url.endswith("/subscribe/payments/unschedule")]
