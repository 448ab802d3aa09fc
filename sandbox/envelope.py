"""The {code, message, response} envelope and the request-body reading shared by the REST API."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Iterable

from flask import Response, current_app, request

from .money import AmountError, check_minor_unit, loads, parse_amount

# iamport has no published table of codes; these are the values its clients are seen to get.
CODE_OK = 0
CODE_FAILED = -1
CODE_REFUSED = 1


class ApiError(Exception):
    """An answer other than success, raised anywhere below a REST view."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def envelope(response: Any = None, *, code: int = CODE_OK, message: str | None = None,
             status: int = 200) -> Response:
    """Wrap a result the way every iamport endpoint does."""
    body = current_app.json.dumps({"code": code, "message": message, "response": response})
    return Response(body + "\n", status=status, mimetype="application/json")


def not_found(message: str) -> ApiError:
    """404 with a non-zero code, for unknown ids."""
    return ApiError(404, CODE_FAILED, message)


def bad_request(message: str) -> ApiError:
    """A body or query the API cannot use: 400 where the endpoint declares it, else 200 (api.api_error)."""
    return ApiError(400, CODE_FAILED, message)


def refused(message: str, code: int = CODE_REFUSED) -> ApiError:
    """HTTP 200 with a non-zero code: the request was understood and declined."""
    return ApiError(200, code, message)


def read_body() -> dict[str, Any]:
    """The request body as a dict: JSON (fractions as Decimal) or form-encoded fields."""
    mimetype = request.mimetype or ""
    raw = request.get_data(cache=True)
    if mimetype == "application/json" or (mimetype.endswith("+json")):
        if not raw.strip():
            return {}
        try:
            body = loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise bad_request("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        return body
    if mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return parse_brackets(request.form.items(multi=True))
    if not raw.strip():
        return {}
    # Some clients post JSON without a Content-Type; accept it rather than guess a form.
    try:
        body = loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise bad_request("Send the body as JSON or as form fields.") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


_PART = re.compile(r"\[([^\]]*)\]")


def parse_brackets(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn form fields like `schedules[0][amount]` and `merchant_uid[]` into nested values."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head] + (_PART.findall("[" + rest) if rest else [])
        _assign(result, parts, value)
    return _listify(result)


def _assign(node: dict, parts: list[str], value: str) -> None:
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "":
            # `a[]` appends: use the next free numeric index.
            part = str(sum(1 for k in node if k.isdigit()))
        if last:
            if part in node and not isinstance(node[part], dict):
                existing = node[part]
                node[part] = existing + [value] if isinstance(existing, list) else [existing, value]
            else:
                node[part] = value
        else:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                return


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def text_field(body: dict, name: str, *, required: bool = False, max_length: int | None = None) -> str | None:
    """A string field of the body; numbers are accepted and turned into text."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"{name} is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise bad_request(f"{name} must be a string.")
    text = str(value)
    if max_length is not None and len(text) > max_length:
        raise bad_request(f"{name} must be at most {max_length} characters.")
    return text


def int_field(body: dict, name: str, *, required: bool = False) -> int | None:
    """A whole-number field (UNIX seconds, page numbers)."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"{name} is required.")
        return None
    if isinstance(value, bool):
        raise bad_request(f"{name} must be an integer.")
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, int) else Decimal(value)
    except ArithmeticError:
        raise bad_request(f"{name} must be an integer.") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise bad_request(f"{name} must be an integer.")
    return int(number)


def bool_field(value: Any) -> bool:
    """A flag from a query string or body: true/1/yes."""
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in {"1", "true", "yes", "on"}


def amount_field(body: dict, name: str, *, required: bool = True, allow_zero: bool = False,
                 currency: str | None = None) -> Decimal | None:
    """An amount of the request body, exact (a Decimal); a 400 when it is missing or not an
    amount, or a fraction in a `currency` without a minor unit (KRW)."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"{name} is required.")
        return None
    try:
        return check_minor_unit(parse_amount(value, allow_zero=allow_zero), currency)
    except AmountError as exc:
        raise bad_request(f"{name} {exc}.") from None


def paged(total: int, page: int, limit: int, rows: list) -> dict:
    """A page of a listing, as iamport pages them (0 for no previous or next page)."""
    return {
        "total": total,
        "previous": page - 1 if page > 1 else 0,
        "next": page + 1 if page * limit < total else 0,
        "list": rows,
    }
