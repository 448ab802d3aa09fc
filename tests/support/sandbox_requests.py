"""What the sandbox's contract tests send to its billing-key endpoints: charges, schedules, and its clock."""
from __future__ import annotations

import requests

from tests.support.sandbox import RunningSandbox, new_uid


def clock_now(sandbox: RunningSandbox) -> int:
    """The sandbox clock's now, in Unix seconds."""
    return sandbox.control("GET", "/clock")["now"]


def again_body(customer_uid: str, **overrides) -> dict:
    """A POST /subscribe/payments/again body that passes every check (None drops a field)."""
    body = {
        "customer_uid": customer_uid,
        "merchant_uid": new_uid("renew"),
        "amount": 9.99,
        "name": "Pro plan (monthly)",
        "currency": "USD",
        "buyer_email": "ada@example.com",
        "buyer_name": "Ada Lovelace",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def schedule_item(at: int, **overrides) -> dict:
    """One item of a POST /subscribe/payments/schedule body, due `at` (None drops a field)."""
    item = {"merchant_uid": new_uid("sched"), "schedule_at": at, "amount": 9.99, "currency": "USD",
            "name": "Pro plan renewal"}
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def schedule(sandbox: RunningSandbox, customer_uid: str, *items: dict) -> requests.Response:
    """POST /subscribe/payments/schedule with these items."""
    return sandbox.api("POST", "/subscribe/payments/schedule",
                       json={"customer_uid": customer_uid, "schedules": list(items)})
