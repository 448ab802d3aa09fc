"""The official iamport-rest-client 0.9.0, unchanged, against a running sandbox."""
from __future__ import annotations

import pytest
from iamport import Iamport

from tests.support.sandbox import checkout_params, new_uid
from tests.support.waiting import wait_until


@pytest.fixture
def key(sandbox):
    """A chargeable billing key issued with a paid window payment."""
    customer_uid = new_uid("cust")
    issued = sandbox.issue_billing_key(customer_uid)
    return {"customer_uid": customer_uid, **issued}


def test_find_by_imp_uid_and_by_merchant_uid(sandbox, iamport):
    rsp = sandbox.pay(checkout_params(amount=15))
    by_imp_uid = iamport.find(imp_uid=rsp["imp_uid"])
    by_merchant_uid = iamport.find(merchant_uid=rsp["merchant_uid"])
    assert by_imp_uid == by_merchant_uid
    assert by_imp_uid["status"] == "paid" and by_imp_uid["amount"] == 15


def test_find_unknown_raises_http_error(iamport):
    with pytest.raises(Iamport.HttpError) as caught:
        iamport.find(imp_uid="imp_000000000000")
    assert caught.value.code == 404
    with pytest.raises(Iamport.HttpError):
        iamport.find_by_merchant_uid("no_such_order")


def test_wrong_keys_raise_http_error_401(sandbox):
    client = Iamport(imp_key="wrong", imp_secret="wrong", imp_url=f"{sandbox.url}/")
    with pytest.raises(Iamport.HttpError) as caught:
        client.find(imp_uid="imp_000000000000")
    assert caught.value.code == 401


def test_is_paid(sandbox, iamport):
    rsp = sandbox.pay(checkout_params(amount=9.99))
    assert iamport.is_paid(9.99, imp_uid=rsp["imp_uid"]) is True
    assert iamport.is_paid(10, imp_uid=rsp["imp_uid"]) is False
    declined = sandbox.pay(checkout_params(amount=9.99), cvv="111")
    assert iamport.is_paid(9.99, merchant_uid=declined["merchant_uid"]) is False


def test_cancel_full_and_partial(sandbox, iamport):
    sandbox.set_delays(cancel_delay=0)
    rsp = sandbox.pay(checkout_params(amount=30))
    partial = iamport.cancel("partial refund", imp_uid=rsp["imp_uid"], amount=10, checksum=30)
    assert partial["cancel_amount"] == 10 and partial["status"] == "paid"
    rest = iamport.cancel("the rest", merchant_uid=rsp["merchant_uid"])
    assert rest["status"] == "cancelled" and rest["cancel_amount"] == 30
    assert [h["reason"] for h in rest["cancel_history"]] == ["partial refund", "the rest"]


def test_cancel_confirmed_later_by_paymentwall(sandbox, iamport):
    rsp = sandbox.pay(checkout_params(amount=30))
    answer = iamport.cancel("refund", imp_uid=rsp["imp_uid"])
    assert answer["status"] == "paid"
    wait_until(lambda: iamport.find(imp_uid=rsp["imp_uid"])["status"] == "cancelled", timeout=5)


def test_cancel_unknown_raises_response_error(iamport):
    with pytest.raises(Iamport.ResponseError) as caught:
        iamport.cancel("nothing", imp_uid="imp_000000000000")
    assert caught.value.code == 1 and caught.value.message


def test_prepare_and_prepare_validate(sandbox, iamport):
    merchant_uid = new_uid()
    assert iamport.prepare(merchant_uid, 12000) == {"merchant_uid": merchant_uid, "amount": 12000, "currency": "KRW"}
    assert iamport.prepare_validate(merchant_uid, 12000) is True
    assert iamport.prepare_validate(merchant_uid, 11000) is False
    with pytest.raises(Iamport.ResponseError):
        iamport.prepare(merchant_uid, 12000)


def test_pay_again(iamport, key):
    merchant_uid = new_uid("renew")
    payment = iamport.pay_again(customer_uid=key["customer_uid"], merchant_uid=merchant_uid, amount=9.99,
                                name="Pro plan (monthly)", currency="USD", buyer_email="ada@example.com",
                                buyer_name="Ada Lovelace")
    assert payment["status"] == "paid" and payment["merchant_uid"] == merchant_uid
    assert payment["customer_uid_usage"] == "payment"
    assert iamport.is_paid(9.99, merchant_uid=merchant_uid) is True


def test_pay_again_unknown_customer_raises_response_error(iamport):
    with pytest.raises(Iamport.ResponseError) as caught:
        iamport.pay_again(customer_uid="nobody", merchant_uid=new_uid(), amount=1, name="x",
                          buyer_email="ada@example.com")
    assert caught.value.code == -1


def test_customer_get_and_delete(iamport, key):
    customer = iamport.customer_get(key["customer_uid"])
    assert customer["customer_uid"] == key["customer_uid"] and customer["pg_provider"] == "paymentwall"
    deleted = iamport.customer_delete(key["customer_uid"])
    assert deleted["customer_uid"] == key["customer_uid"]
    with pytest.raises(Iamport.HttpError) as caught:
        iamport.customer_get(key["customer_uid"])
    assert caught.value.code == 404


def test_pay_schedule_get_and_unschedule(sandbox, iamport, key):
    now = sandbox.control("GET", "/clock")["now"]
    first, second = new_uid("sched"), new_uid("sched")
    scheduled = iamport.pay_schedule(customer_uid=key["customer_uid"], schedules=[
        {"merchant_uid": first, "schedule_at": now + 3600, "amount": 9.99, "name": "Renewal 1", "currency": "USD"},
        {"merchant_uid": second, "schedule_at": now + 7200, "amount": 9.99, "name": "Renewal 2", "currency": "USD"},
    ])
    assert [s["merchant_uid"] for s in scheduled] == [first, second]
    got = iamport.pay_schedule_get(first)
    assert got["schedule_status"] == "scheduled" and got["schedule_at"] == now + 3600
    between = iamport.pay_schedule_get_between(schedule_from=now, schedule_to=now + 7200)
    assert between["total"] == 2
    revoked = iamport.pay_unschedule(customer_uid=key["customer_uid"], merchant_uid=[second])
    assert [s["merchant_uid"] for s in revoked] == [second] and revoked[0]["schedule_status"] == "revoked"
    sandbox.advance(7201)
    executed = iamport.pay_schedule_get(first)
    assert executed["schedule_status"] == "executed" and executed["payment_status"] == "paid"
    assert iamport.is_paid(9.99, imp_uid=executed["imp_uid"]) is True
    assert iamport.pay_schedule_get(second)["schedule_status"] == "revoked"


def test_pay_schedule_unknown_customer_raises_response_error(sandbox, iamport):
    now = sandbox.control("GET", "/clock")["now"]
    with pytest.raises(Iamport.ResponseError) as caught:
        iamport.pay_schedule(customer_uid="nobody", schedules=[
            {"merchant_uid": new_uid(), "schedule_at": now + 60, "amount": 1, "name": "x"}])
    assert caught.value.code == 1


def test_pay_unschedule_nothing_raises_response_error(iamport, key):
    with pytest.raises(Iamport.ResponseError) as caught:
        iamport.pay_unschedule(customer_uid=key["customer_uid"])
    assert caught.value.code == 1


def test_pay_again_unknown_customer_with_fields_missing_raises_response_error(iamport):
    # The client checks only customer_uid, merchant_uid and amount; iamport answers the rest
    # with HTTP 200 and code -1, so the client raises ResponseError, never HttpError.
    with pytest.raises(Iamport.ResponseError) as caught:
        iamport.pay_again(customer_uid="nobody", merchant_uid=new_uid(), amount=1)
    assert caught.value.code == -1 and caught.value.message
    with pytest.raises(Iamport.ResponseError) as caught:
        iamport.pay_again(customer_uid="nobody", merchant_uid=new_uid(), amount="lots", name="x")
    assert caught.value.code == -1 and caught.value.message


def test_pay_onetime_raises_response_error(iamport):
    with pytest.raises(Iamport.ResponseError) as caught:
        iamport.pay_onetime(customer_uid="nobody", merchant_uid=new_uid(), amount=1,
                            card_number="4242-4242-4242-4242", expiry="2039-12", birth="000000",
                            pwd_2digit="00")
    assert caught.value.code == -1 and caught.value.message


def test_prepare_validate_of_an_unprepared_order_raises_response_error(iamport):
    with pytest.raises(Iamport.ResponseError) as caught:
        iamport.prepare_validate(new_uid(), 1000)
    assert caught.value.code == -1
