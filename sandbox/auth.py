"""Access tokens: issued for 30 minutes, reused while valid, extended when asked in the last minute."""
from __future__ import annotations

import hmac
import secrets

from flask import Request

from .state import State

TOKEN_LIFETIME = 30 * 60
LAST_MINUTE = 60
EXTENSION = 5 * 60


def keys_match(sb: State, imp_key: str | None, imp_secret: str | None) -> bool:
    """Whether the REST key pair is the sandbox's."""
    if not imp_key or not imp_secret:
        return False
    return hmac.compare_digest(str(imp_key), sb.settings.api_key) and hmac.compare_digest(
        str(imp_secret), sb.settings.api_secret
    )


def issue_token(sb: State, imp_key: str) -> dict:
    """The AuthAnnotation for a key: the current token, extended or replaced as iamport does."""
    now = sb.clock.timestamp()
    with sb.store.tx():
        row = sb.store.token_for_key(imp_key)
        if row is not None and now < row["expired_at"]:
            token, expired_at = row["access_token"], row["expired_at"]
            # Asked in the last minute: the same token lives 5 minutes longer, so racing
            # servers keep sharing one token instead of invalidating each other's.
            if expired_at - now <= LAST_MINUTE:
                expired_at += EXTENSION
                sb.store.token_put(imp_key, token, row["issued_at"], expired_at)
        else:
            token, expired_at = secrets.token_hex(20), now + TOKEN_LIFETIME
            sb.store.token_put(imp_key, token, now, expired_at)
    return {"access_token": token, "now": now, "expired_at": expired_at}


def token_from_request(req: Request) -> str | None:
    """The token of a request: `Authorization: Bearer <t>`, the bare `<t>`, or X-ImpTokenHeader."""
    header = (req.headers.get("Authorization") or "").strip()
    if header:
        scheme, _, rest = header.partition(" ")
        if rest and scheme.lower() == "bearer":
            return rest.strip() or None
        return header
    # Older iamport clients send the token in this header instead.
    legacy = (req.headers.get("X-ImpTokenHeader") or "").strip()
    return legacy or None


def token_is_valid(sb: State, token: str | None) -> bool:
    """Whether a token was issued here and has not expired (by the sandbox clock)."""
    if not token:
        return False
    row = sb.store.token_lookup(token)
    return row is not None and sb.clock.timestamp() < row["expired_at"]
