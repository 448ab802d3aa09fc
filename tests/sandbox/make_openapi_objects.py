"""Write tests/sandbox/openapi_objects.json from PortOne's official V1 OpenAPI description.

Where the spec comes from:
    repository  github.com/portone-io/developers.portone.io
    path        src/schema/v1.openapi.json (Swagger 2.0; a .yml twin holds the same)
    commit      af926bd2cdd7c3c6ee6d2e1f636e9a1f3268df32 (repository HEAD, 2026-08-06); the file
                itself last changed in 0a8743aae939dbee11449224d3042604a2ab5a19 (2026-07-27)

Run it again when PortOne changes the spec, from the repository root:

    git clone https://github.com/portone-io/developers.portone.io /tmp/portone
    .venv/bin/python -m tests.sandbox.make_openapi_objects /tmp/portone/src/schema/v1.openapi.json \
        --commit "$(git -C /tmp/portone rev-parse HEAD)" \
        --file-commit "$(git -C /tmp/portone log -1 --format=%H -- src/schema/v1.openapi.json)"

Only names, types and required-ness are kept, never the spec's prose: the tests read this file
offline, since no machine of the project can reach GitHub at test time.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REPOSITORY = "portone-io/developers.portone.io"
SPEC_PATH = "src/schema/v1.openapi.json"
DEFAULT_COMMIT = "af926bd2cdd7c3c6ee6d2e1f636e9a1f3268df32"
DEFAULT_FILE_COMMIT = "0a8743aae939dbee11449224d3042604a2ab5a19"
OUTPUT = Path(__file__).with_name("openapi_objects.json")

# Every endpoint the sandbox serves (sandbox/api.py), keyed as the tests name it,
# with the spec operation that describes it. `find` without a status is the same operation
# with its optional last segment left out.
ENDPOINTS: dict[str, tuple[str, str]] = {
    "POST /users/getToken": ("post", "/users/getToken"),
    "GET /payments/{imp_uid}": ("get", "/payments/{imp_uid}"),
    "GET /payments/find/{merchant_uid}": ("get", "/payments/find/{merchant_uid}/{payment_status}"),
    "GET /payments/find/{merchant_uid}/{payment_status}": (
        "get", "/payments/find/{merchant_uid}/{payment_status}"),
    "GET /payments/status/{payment_status}": ("get", "/payments/status/{payment_status}"),
    "POST /payments/cancel": ("post", "/payments/cancel"),
    "POST /payments/prepare": ("post", "/payments/prepare"),
    "GET /payments/prepare/{merchant_uid}": ("get", "/payments/prepare/{merchant_uid}"),
    "POST /subscribe/payments/again": ("post", "/subscribe/payments/again"),
    "POST /subscribe/payments/onetime": ("post", "/subscribe/payments/onetime"),
    "POST /subscribe/payments/schedule": ("post", "/subscribe/payments/schedule"),
    "POST /subscribe/payments/unschedule": ("post", "/subscribe/payments/unschedule"),
    "GET /subscribe/payments/schedule/{merchant_uid}": ("get", "/subscribe/payments/schedule/{merchant_uid}"),
    "GET /subscribe/payments/schedule": ("get", "/subscribe/payments/schedule"),
    "GET /subscribe/customers/{customer_uid}": ("get", "/subscribe/customers/{customer_uid}"),
    "POST /subscribe/customers/{customer_uid}": ("post", "/subscribe/customers/{customer_uid}"),
    "DELETE /subscribe/customers/{customer_uid}": ("delete", "/subscribe/customers/{customer_uid}"),
    "GET /subscribe/customers/{customer_uid}/payments": ("get", "/subscribe/customers/{customer_uid}/payments"),
}

# The customers operations answer either an ordinary billing key or a "super" billing key
# (several channels behind one key); a Paymentwall key is always the ordinary one.
ORDINARY_KEY_RESPONSE = "CustomerResponse"


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


class Reader:
    """Turns spec definitions into the project's own compact description."""

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.definitions: dict[str, Any] = spec["definitions"]
        self.objects: dict[str, dict[str, Any]] = {}

    def response_definition(self, method: str, path: str) -> str:
        """Name of the envelope definition of an operation's 200 answer."""
        schema = self.spec["paths"][path][method]["responses"]["200"]["schema"]
        if "$ref" in schema:
            return _ref_name(schema["$ref"])
        choices = schema.get("properties", {})
        if ORDINARY_KEY_RESPONSE in choices:
            return _ref_name(choices[ORDINARY_KEY_RESPONSE]["$ref"])
        raise ValueError(f"{method.upper()} {path}: no response definition the script knows")

    def envelope_parts(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the envelope's own fields, the type of its `response`) of a *Response definition."""
        envelope: dict[str, Any] = {}
        response: dict[str, Any] | None = None
        for part in self.definitions[name].get("allOf", []):
            if "$ref" in part:
                envelope.update(self.obj(_ref_name(part["$ref"])))
            else:
                response = self.field_type(part["properties"]["response"])
        if response is None:
            raise ValueError(f"{name} has no response property")
        return envelope, response

    def field_type(self, prop: dict[str, Any]) -> dict[str, Any]:
        """A property as {"type": ...}, with `items` for arrays and `object`/`fields` for objects."""
        if "$ref" in prop:
            name = _ref_name(prop["$ref"])
            self.obj(name)
            return {"type": "object", "object": name}
        kind = prop.get("type") or ("object" if "properties" in prop else None)
        if kind is None:
            raise ValueError(f"a property without a type: {sorted(prop)}")
        described: dict[str, Any] = {"type": kind}
        if kind == "array":
            described["items"] = self.field_type(prop.get("items", {}))
        elif kind == "object" and "properties" in prop:
            described.update(self.fields_of(prop))
        return described

    def fields_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        """`fields` (name -> type, required, nullable) and required names the object lacks."""
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields = {}
        for name, prop in properties.items():
            described = self.field_type(prop)
            described["required"] = name in required
            # Swagger 2.0 cannot say null; `x-nullable` would. Without it, a field the object does
            # not require may come as null (iamport answers null for what does not apply).
            described["nullable"] = bool(prop.get("x-nullable", name not in required))
            fields[name] = described
        result: dict[str, Any] = {"fields": fields}
        unknown = sorted(required - set(properties))
        if unknown:
            # Spec slips (e.g. PaymentPrepareAnnotation requires total/previous/next it does not
            # define): kept for the record, ignored by the checker.
            result["required_but_undefined"] = unknown
        return result

    def obj(self, name: str) -> dict[str, Any]:
        """A named definition's fields, recorded once in `objects`."""
        if name not in self.objects:
            self.objects[name] = {}  # a placeholder stops self-reference loops
            self.objects[name] = self.fields_of(self.definitions[name])
        return self.objects[name]["fields"] if "fields" in self.objects[name] else {}


def build(spec: dict[str, Any], commit: str, file_commit: str, digest: str) -> dict[str, Any]:
    """The whole description file."""
    reader = Reader(spec)
    endpoints = {}
    envelope: dict[str, Any] | None = None
    for key, (method, path) in ENDPOINTS.items():
        definition = reader.response_definition(method, path)
        own, response = reader.envelope_parts(definition)
        envelope = envelope or own
        declared = spec["paths"][path][method]["responses"]
        endpoints[key] = {"spec_operation": f"{method.upper()} {path}", "spec_definition": definition,
                          "statuses": sorted(int(k) for k in declared if k.isdigit()),
                          "response": response}
    return {
        "about": (
            "Field names, JSON types and required-ness of the answers of the iamport V1 endpoints "
            "the sandbox serves, taken from PortOne's official OpenAPI description by "
            "tests/sandbox/make_openapi_objects.py. A field is `nullable` when the object does not "
            "require it (Swagger 2.0 has no way to say null). `required_but_undefined` lists names "
            "the spec requires without defining them; they are ignored. `statuses` are the HTTP "
            "statuses the spec declares for an endpoint."
        ),
        "source": {
            "repository": REPOSITORY,
            "path": SPEC_PATH,
            "commit": commit,
            "file_last_changed_in": file_commit,
            "sha256": digest,
            "swagger": spec.get("swagger"),
        },
        "envelope": envelope,
        "endpoints": endpoints,
        "objects": dict(sorted(reader.objects.items())),
    }


def main(argv: list[str] | None = None) -> int:
    """Read the spec file named on the command line and write the description file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="path of v1.openapi.json")
    parser.add_argument("--commit", default=DEFAULT_COMMIT, help="commit the spec was read from")
    parser.add_argument("--file-commit", default=DEFAULT_FILE_COMMIT, help="last commit that changed the file")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    raw = args.spec.read_bytes()
    described = build(json.loads(raw), args.commit, args.file_commit, hashlib.sha256(raw).hexdigest())
    args.output.write_text(json.dumps(described, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("wrote %s: %d endpoints, %d objects", args.output, len(described["endpoints"]),
             len(described["objects"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
