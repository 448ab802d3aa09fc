"""Reading what the storefront's pages carry: the CSRF token."""
from __future__ import annotations

import re

# The token from the meta tag of a logged-in page, or from a form's hidden field.
_CSRF = re.compile(r'(?:<meta name="csrf-token" content="|name="csrf_token" type="hidden" value=")([^"]+)"')


def csrf_token(page: str, required: bool = True) -> str:
    """The page's CSRF token; "" when it has none and none is required (CSRF switched off)."""
    match = _CSRF.search(page)
    if match:
        return match.group(1)
    if required:
        raise AssertionError("no CSRF token on the page")
    return ""
