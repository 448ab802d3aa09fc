"""A message rendered from templates/mail/ in its recipient's language: subject, text and HTML."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale

from storefront.business import details


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(kind: str, language: str, **context: Any) -> Rendered:
    """Render `mail/<kind>.txt` and `mail/<kind>.html` in `language` ('ko' or 'en').

    The subject is the text template's `subject` block, so each message's words live in one
    place. Links in a message come from `link()`, which builds them on PUBLIC_URL: a message is
    read far from the request that caused it (or from a job that has no request at all)."""
    context = {"business": details(language), "link": link, **context}
    with force_locale(language):
        template = current_app.jinja_env.get_template(f"mail/{kind}.txt")
        subject = "".join(template.blocks["subject"](template.new_context(context)))
        context["subject"] = " ".join(subject.split())
        text = render_template(f"mail/{kind}.txt", **context)
        html = render_template(f"mail/{kind}.html", **context)
    return Rendered(subject=context["subject"], text=text.strip() + "\n", html=html)


def link(endpoint: str, **values: Any) -> str:
    """The absolute address of one of the shop's pages, on PUBLIC_URL."""
    base = urlsplit(current_app.config["PUBLIC_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/",
                                       url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)


def language_of(user: Any) -> str:
    """The language a user's mail is written in: the one saved on the account (at sign-up, and
    by the language switch), else the shop's default."""
    return getattr(user, "locale", None) or current_app.config["DEFAULT_LOCALE"]
