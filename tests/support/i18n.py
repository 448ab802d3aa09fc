"""Reading the pages in Korean: the request header that asks for it, and the English left on a page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

KOREAN = {"Accept-Language": "ko-KR,ko;q=0.9"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}

# Words that stay as they are on a Korean page: names of companies and products, codes, and the
# switch's own "English".
KEPT_WORDS = {
    "PAYMENTWALL", "Paymentwall", "iamport", "PortOne", "English", "KST", "UTC", "US", "KRW",
    "USD", "VAT", "Inc", "Visa", "Mastercard", "Northwind", "Asia", "Seoul", "mail", "e-mail",
}
# Attributes a reader sees or hears.
SHOWN_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt"}
WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
ADDRESS = re.compile(r"\S+@\S+|https?://\S+|\b[a-z0-9_-]+\.[a-z]{2,}\b")


class _ShownText(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style", "template"}:
            self._hidden += 1
        attributes = dict(attrs)
        if attributes.get("lang") == "en":  # the switch's "English", meant to be in English
            return
        self.parts.extend(v for k, v in attrs if k in SHOWN_ATTRIBUTES and v)
        if tag == "input" and attributes.get("type") in {"submit", "button"}:
            self.parts.append(attributes.get("value") or "")

    def handle_endtag(self, tag):
        if tag in {"script", "style", "template"} and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def english_left(html: str, also_kept: set[str] = frozenset()) -> list[str]:
    """English words a reader of this page would meet, besides names kept in every language."""
    parser = _ShownText()
    parser.feed(html)
    text = ADDRESS.sub(" ", " ".join(parser.parts))
    return [w for w in WORD.findall(text) if w not in KEPT_WORDS | set(also_kept)]
