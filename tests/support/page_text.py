"""Pages compared as a reader sees them: without the CSRF tokens, which carry the second they were signed in."""

from __future__ import annotations

import re

_CSRF = re.compile(r'((?:name="csrf_token" value|name="csrf-token" content)=")[^"]+')


def without_csrf(page: str) -> str:
    """The page with its CSRF tokens blanked (two pages a second apart differ only there)."""
    return _CSRF.sub(r"\1", page)
