"""iamport's wire format: exact JSON amounts, safe path segments, UNIX times, answer envelopes."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests

Amount = Decimal | int
Timestamp = int | datetime


def _json_default(value: object) -> object:
    """Encode Decimal amounts as JSON numbers with exactly the same value, or refuse."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} to iamport")
        if value == value.to_integral_value():
            return int(value)
        if Decimal(repr(float(value))) == value:
            return float(value)
        raise ValueError(f"amount {value} cannot be sent to iamport as an exact JSON number")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(body: object) -> str:
    """Serialise a request body, Decimal-aware."""
    return json.dumps(body, default=_json_default, ensure_ascii=False)


def path_segment(value: str) -> str:
    """Quote one URL path segment; an empty or dot one would silently hit another endpoint."""
    text = str(value)
    if not text:
        raise ValueError("an iamport path segment must not be empty")
    if text in {".", ".."}:
        # Dots are not quoted, and every URL normaliser on the way resolves them.
        raise ValueError(f"{text!r} is not an id iamport can be asked about")
    return quote(text, safe="")


def unix_seconds(value: Timestamp) -> int:
    """UNIX seconds from an int or a timezone-aware datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("a naive datetime is ambiguous; pass an aware one or UNIX seconds")
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected UNIX seconds or an aware datetime, not {type(value).__name__}")
    return value


def api_int(value: object) -> int | None:
    """An integer field of an API answer (JSON may carry it as 1700000000.0), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


def read_envelope(resp: requests.Response) -> dict[str, Any] | None:
    """The decoded {code, message, response} envelope (floats as Decimal), or None."""
    try:
        payload = json.loads(resp.content, parse_float=Decimal)
    except ValueError:
        return None
    if not isinstance(payload, dict) or api_int(payload.get("code")) is None:
        return None
    return payload
