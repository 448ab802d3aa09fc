"""What request_pay must carry: the checks the sandbox makes before a window opens."""
from __future__ import annotations

import pytest

from tests.support.sandbox import checkout_params


@pytest.mark.parametrize("overrides,code", [
    ({"pg": "inicis"}, "F0002"),
    ({"pg": None}, "F0002"),
    ({"pay_method": "trans"}, "F0002"),
    ({"merchant_uid": None}, "F0002"),
    ({"merchant_uid": "x" * 41}, "F0002"),
    ({"amount": 0}, "F0002"),
    ({"amount": -5}, "F0002"),
    ({"amount": "9.99"}, "F0002"),
    ({"currency": None}, "F0002"),
    ({"buyer_email": None}, "F0002"),
    ({"buyer_email": "not-an-email"}, "F0002"),
    ({"buyer_name": "Ada"}, "F0002"),
    ({"buyer_name": "Ada  Lovelace"}, "F0002"),
    ({"buyer_name": None}, "F0002"),
    ({"customer_uid": None}, "F0002"),
    ({"name": None}, "F0002"),
    ({"notice_url": "ftp://example.com"}, "F0002"),
])
def test_bad_parameters_are_refused(sandbox, overrides, code):
    answer = sandbox.open_window(checkout_params(**overrides))
    assert answer["ok"] is False
    rsp = answer["rsp"]
    assert rsp["error_code"] == code and rsp["error_msg"] and rsp["imp_uid"] is None
    assert rsp["success"] is False


def test_forty_character_merchant_uid_is_fine(sandbox):
    assert sandbox.open_window(checkout_params(merchant_uid="m" * 40))["ok"] is True


def test_pg_with_a_mid_is_fine(sandbox):
    assert sandbox.open_window(checkout_params(pg="paymentwall.t_project_1"))["ok"] is True


def test_unknown_merchant_code(sandbox):
    answer = sandbox.open_window(checkout_params(), imp_code="imp99999999")
    assert answer["rsp"]["error_code"] == "F0001"


def test_mobile_without_m_redirect_url(sandbox):
    answer = sandbox.open_window(checkout_params(m_redirect_url=None), mode="mobile")
    assert answer["ok"] is False and answer["rsp"]["error_code"] == "F0002" and "redirect_url" not in answer


def test_cors_preflight_and_header(sandbox):
    origin = "http://127.0.0.1:9"
    preflight = sandbox.http.options(f"{sandbox.url}/sdk/v1/payments", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"}, timeout=10)
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    answer = sandbox.http.post(f"{sandbox.url}/sdk/v1/payments", json={}, headers={"Origin": origin}, timeout=10)
    assert answer.headers["Access-Control-Allow-Origin"] == origin


def test_sdk_script_is_served(sandbox):
    response = sandbox.http.get(sandbox.sdk_url, timeout=10)
    assert response.status_code == 200
    assert "javascript" in response.headers["Content-Type"]
    assert "request_pay" in response.text and "window.IMP" in response.text
