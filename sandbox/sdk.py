"""The JS SDK (iamport.js) and the request it sends to open a payment window, checked as iamport does."""
from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory

from . import payments, texts
from .money import AmountError, check_minor_unit, loads, parse_amount
from .state import State, current

bp = Blueprint("sandbox_sdk", __name__)

PG_RE = re.compile(r"^paymentwall(?:\.(?P<mid>[A-Za-z0-9_.\-]+))?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Paymentwall wants the buyer's first and last name separated by exactly one space.
BUYER_NAME_RE = re.compile(r"^\S+ \S+$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")

# The SDK's error codes (documented in docs/sandbox.md).
NOT_INITIALISED = "F0001"
BAD_PARAMETER = "F0002"
ALREADY_PAID = "F0003"
AMOUNT_MISMATCH = "F0004"
USER_CANCELLED = "F1001"
CARD_DECLINED = "F1002"
HELD_FOR_REVIEW = "F1003"

KEPT_PARAMS = (
    "pg", "pay_method", "merchant_uid", "name", "amount", "currency", "language", "buyer_name",
    "buyer_email", "buyer_tel", "buyer_addr", "buyer_postcode", "customer_uid", "m_redirect_url",
    "notice_url", "custom_data", "bypass", "use_test_method",
)


class WindowRequestError(Exception):
    """request_pay parameters the window cannot open with."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def notice_urls_of(value: Any) -> list[str]:
    """notice_url as a list: a single URL or several."""
    if value is None or value == "":
        return []
    urls = [value] if isinstance(value, str) else value
    if not isinstance(urls, list) or not all(isinstance(u, str) and _is_http_url(u) for u in urls):
        raise ValueError("notice_url must be an http(s) URL or a list of them.")
    return urls


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def add_query(url: str, params: dict[str, Any]) -> str:
    """The URL with more query parameters, keeping the ones it has."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, "" if v is None else str(v)) for k, v in params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def check_request(sb: State, imp_code: Any, param: Any, mode: str) -> dict:
    """Check request_pay parameters as iamport and Paymentwall do; returns the kept ones."""
    if not imp_code:
        raise WindowRequestError(NOT_INITIALISED, "Call IMP.init() with your merchant code first.")
    if imp_code != sb.settings.imp_code:
        raise WindowRequestError(NOT_INITIALISED, f"Unknown merchant code {imp_code!r}.")
    if not isinstance(param, dict):
        raise WindowRequestError(BAD_PARAMETER, "request_pay needs an object of parameters.")

    def bad(message: str) -> WindowRequestError:
        """A wrong or missing parameter."""
        return WindowRequestError(BAD_PARAMETER, message)

    pg = param.get("pg")
    if not isinstance(pg, str) or not PG_RE.match(pg):
        raise bad("pg must be 'paymentwall' or 'paymentwall.{MID}'.")
    if param.get("pay_method") != "card":
        raise bad("pay_method must be 'card' for Paymentwall.")
    merchant_uid = param.get("merchant_uid")
    if not isinstance(merchant_uid, str) or not merchant_uid.strip():
        raise bad("merchant_uid is required.")
    if len(merchant_uid) > 40:
        raise bad("merchant_uid must be at most 40 characters.")
    try:
        # The SDK takes a number, never a numeric string.
        amount = parse_amount(param.get("amount"), allow_string=False)
    except AmountError:
        raise bad("amount must be a number greater than 0.") from None
    currency = param.get("currency")
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
        raise bad("currency is required for Paymentwall (e.g. 'USD').")
    try:
        check_minor_unit(amount, currency)
    except AmountError as exc:
        raise bad(f"amount {exc}.") from None
    name = param.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad("name (the product name) is required for Paymentwall.")
    email = param.get("buyer_email")
    if not isinstance(email, str) or not EMAIL_RE.match(email):
        raise bad("buyer_email is required for Paymentwall.")
    buyer_name = param.get("buyer_name")
    if not isinstance(buyer_name, str) or not BUYER_NAME_RE.match(buyer_name):
        raise bad("buyer_name must be 'First Last' (first and last name, one space) for Paymentwall.")
    customer_uid = param.get("customer_uid")
    if not isinstance(customer_uid, str) or not customer_uid.strip():
        raise bad("customer_uid is required: this Paymentwall channel issues billing keys.")
    redirect = param.get("m_redirect_url")
    if redirect is not None and (not isinstance(redirect, str) or not _is_http_url(redirect)):
        raise bad("m_redirect_url must be an http(s) URL.")
    if mode == "mobile" and not redirect:
        raise bad("m_redirect_url is required on mobile, where the page goes to the window.")
    try:
        notice_urls = notice_urls_of(param.get("notice_url"))
    except ValueError as exc:
        raise bad(str(exc)) from None
    for field in ("buyer_tel", "buyer_addr", "buyer_postcode", "language"):
        value = param.get(field)
        if value is not None and not isinstance(value, (str, int)):
            raise bad(f"{field} must be a string.")

    if payments.merchant_uid_paid(sb, merchant_uid):
        raise WindowRequestError(ALREADY_PAID, "This merchant_uid is already paid.")
    prepared = sb.store.prepared_get(merchant_uid)
    if prepared is not None and parse_amount(prepared["amount"]) != amount:
        raise WindowRequestError(
            AMOUNT_MISMATCH,
            "The amount differs from the one prepared for this merchant_uid.",
        )

    kept = {k: param[k] for k in KEPT_PARAMS if k in param}
    kept["amount"] = amount
    mid = PG_RE.match(pg).group("mid")
    return {"param": kept, "pg_id": mid or sb.settings.paymentwall_mid, "notice_urls": notice_urls}


def error_rsp(param: Any, code: str, message: str) -> dict:
    """The callback object for a request that never reached the window."""
    merchant_uid = param.get("merchant_uid") if isinstance(param, dict) else None
    return {
        "success": False,
        "imp_success": False,
        "error_code": code,
        "error_msg": message,
        "imp_uid": None,
        "merchant_uid": merchant_uid,
    }


def _cors(response: Response) -> Response:
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


@bp.get("/v1/iamport.js")
@bp.get("/js/iamport.payment-<version>.js")
def iamport_js(version: str | None = None) -> Response:
    """The SDK script, at the path iamport serves it from."""
    response = send_from_directory(current_app.static_folder, "iamport.js",
                                   mimetype="application/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/sdk/v1/payments", methods=["OPTIONS"])
def open_window_preflight() -> Response:
    """CORS preflight: the merchant's page posts here from its own origin."""
    return _cors(Response(status=204))


@bp.post("/sdk/v1/payments")
def open_window() -> Response:
    """Check a request_pay call and create the window's pending payment."""
    sb = current()
    sb.remember_url(request.host_url)
    try:
        body = loads(request.get_data(as_text=True) or "{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _cors(jsonify(ok=False, rsp=error_rsp(None, BAD_PARAMETER, "Malformed request.")))
    param = body.get("param")
    mode = "mobile" if body.get("mode") == "mobile" else "pc"
    try:
        checked = check_request(sb, body.get("imp_code"), param, mode)
    except WindowRequestError as exc:
        answer: dict[str, Any] = {"ok": False, "rsp": error_rsp(param, exc.code, exc.message)}
        redirect = param.get("m_redirect_url") if isinstance(param, dict) else None
        if mode == "mobile" and isinstance(redirect, str) and _is_http_url(redirect):
            answer["redirect_url"] = add_query(redirect, {
                "merchant_uid": answer["rsp"]["merchant_uid"] or "",
                "imp_success": "false",
                "error_code": exc.code,
                "error_msg": exc.message,
            })
        return _cors(jsonify(answer))

    param = checked["param"]
    origin = request.headers.get("Origin") or body.get("origin") or ""
    with sb.store.tx():
        payment = payments.create_payment(
            sb,
            merchant_uid=param["merchant_uid"],
            pay_method="card",
            channel=mode,
            pg_id=checked["pg_id"],
            name=param["name"],
            amount=param["amount"],
            currency=param["currency"],
            buyer_name=param["buyer_name"],
            buyer_email=param["buyer_email"],
            buyer_tel=_text(param.get("buyer_tel")),
            buyer_addr=_text(param.get("buyer_addr")),
            buyer_postcode=_text(param.get("buyer_postcode")),
            custom_data=payments.custom_data_text(param.get("custom_data")),
            user_agent=request.headers.get("User-Agent"),
            customer_uid=param["customer_uid"],
            customer_uid_usage="issue",
        )
        meta = {
            "window_key": secrets.token_urlsafe(18),
            "mode": mode,
            "origin": origin,
            "param": param,
            "m_redirect_url": param.get("m_redirect_url"),
            "notice_urls": checked["notice_urls"],
            "finished": False,
            # Every text the shopper and the merchant read about this payment follows it.
            "language": texts.language_of(param.get("language")),
        }
        sb.store.payment_save(payment, meta)
    window_url = f"{request.host_url.rstrip('/')}/window/{payment['imp_uid']}?key={meta['window_key']}"
    return _cors(jsonify(ok=True, imp_uid=payment["imp_uid"], window_url=window_url, mode=mode,
                         title=texts.text(meta["language"], "window_title")))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
