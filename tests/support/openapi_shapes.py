"""Checks the sandbox's answers against the official V1 objects recorded in tests/sandbox/openapi_objects.json."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DESCRIPTION: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "sandbox" / "openapi_objects.json").read_text(encoding="utf-8")
)
OBJECTS: dict[str, Any] = DESCRIPTION["objects"]

# Names of the official objects, for check_shape.
PAYMENT = "PaymentAnnotation"
CANCEL_HISTORY = "PaymentCancelAnnotation"
CUSTOMER = "CustomerAnnotation"
SCHEDULE = "ScheduleResultAnnotation"
PAGE = "PagedPaymentAnnotation"
PREPARED = "PaymentPrepareAnnotation"
TOKEN = "AuthAnnotation"

# The one answer kept apart from the spec, on purpose: the spec gives GET
# /subscribe/payments/schedule a bare list of schedules, the sandbox answers a page
# {total, previous, next, list} as it does for a key's payments, because the storefront's
# IamportClient.list_schedules expects an object and its integration tests read `list`.
SCHEDULE_PAGE: dict[str, Any] = {
    "type": "object",
    "fields": {
        **{name: {"type": "integer", "required": True, "nullable": False}
           for name in ("total", "previous", "next")},
        "list": {"type": "array", "required": True, "nullable": False,
                 "items": {"type": "object", "object": SCHEDULE}},
    },
}
DEVIATIONS: dict[str, dict[str, Any]] = {"GET /subscribe/payments/schedule": SCHEDULE_PAGE}

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def problems(value: Any, described: dict[str, Any], where: str = "response") -> list[str]:
    """Every way `value` differs from a recorded type (null is judged by the caller)."""
    kind = described["type"]
    # bool is an int in Python, but JSON true is no number.
    if not isinstance(value, _PYTHON_TYPES[kind]) or (isinstance(value, bool) and kind != "boolean"):
        return [f"{where}: {value!r} is not {kind}"]
    if kind == "array":
        found = []
        for index, item in enumerate(value):
            if item is None:
                found.append(f"{where}[{index}]: null in a list")
            else:
                found += problems(item, described["items"], f"{where}[{index}]")
        return found
    if kind == "object":
        if "object" in described:
            return _object_problems(value, OBJECTS[described["object"]]["fields"],
                                    f"{where} ({described['object']})")
        if "fields" in described:
            return _object_problems(value, described["fields"], where)
    return []


def _object_problems(obj: dict, fields: dict[str, Any], where: str) -> list[str]:
    found = [f"{where}: {name} is not a field of the object" for name in sorted(set(obj) - set(fields))]
    for name, field in fields.items():
        if name not in obj:
            if field["required"]:
                found.append(f"{where}: required field {name} is missing")
            continue
        value = obj[name]
        if value is None:
            if not field["nullable"]:
                found.append(f"{where}: {name} is null")
            continue
        found += problems(value, field, f"{where}.{name}")
    return found


def check_shape(obj: Any, shape: str | dict[str, Any]) -> None:
    """`obj` is the official object named `shape` (or described by it), field by field."""
    described = {"type": "object", "object": shape} if isinstance(shape, str) else shape
    found = problems(obj, described, shape if isinstance(shape, str) else "object")
    assert not found, "\n".join(found)


def check_envelope(body: dict, *, ok: bool = True) -> None:
    """The {code, message, response} envelope, with the recorded types of code and message."""
    assert set(body) == {"code", "message", "response"}, body
    found = _object_problems({k: body[k] for k in ("code", "message")}, DESCRIPTION["envelope"], "envelope")
    assert not found and body["code"] is not None, found or body
    if ok:
        assert body["code"] == 0, body
    else:
        assert body["code"] != 0, body
        assert body["response"] is None
        assert isinstance(body["message"], str) and body["message"]


def response_description(endpoint: str) -> dict[str, Any]:
    """What the `response` of a successful answer of `endpoint` ("METHOD /path") must be."""
    return DEVIATIONS.get(endpoint) or DESCRIPTION["endpoints"][endpoint]["response"]


def check_answer(endpoint: str, body: dict) -> None:
    """A successful answer of `endpoint`: envelope and `response` as the official object."""
    check_envelope(body)
    assert body["response"] is not None, f"{endpoint}: response is null"
    found = problems(body["response"], response_description(endpoint), endpoint)
    assert not found, "\n".join(found)
