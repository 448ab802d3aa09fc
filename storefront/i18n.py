"""Korean and English: which one a request is shown in, and the switch between them."""

from __future__ import annotations

from flask import (
    Blueprint, Flask, Response, current_app, has_request_context, redirect, request,
)
from flask_babel import Babel, get_locale
from flask_login import current_user

from storefront.extensions import csrf, db

bp = Blueprint("language", __name__)
babel = Babel()

# The languages the shop is written in, each named in itself for the switch.
LANGUAGES = {"ko": "한국어", "en": "English"}
# The visitor's choice, kept a year; not in the session, so an anonymous page stays cacheable.
LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600


def chosen_language() -> str:
    """The request's language: the account's, else the visitor's switch, else the browser's
    Accept-Language, else DEFAULT_LOCALE."""
    if not has_request_context():  # a command or a job: no visitor to ask
        return current_app.config["DEFAULT_LOCALE"]
    saved = getattr(current_user, "locale", None)
    if saved in LANGUAGES:
        return saved
    return (visitor_language() or request.accept_languages.best_match(LANGUAGES)
            or current_app.config["DEFAULT_LOCALE"])


def visitor_language() -> str | None:
    """The language this browser picked on the switch, if any."""
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    return remembered if remembered in LANGUAGES else None


def shop_timezone() -> str:
    """Dates are shown in the shop's zone, whoever reads them."""
    return current_app.config["SHOP_TIMEZONE"]


def page_language() -> str:
    """The language of the page being rendered: 'ko' or 'en' (for <html lang>, the SDK, money,
    dates and plans' texts); English, as the code is written, outside any app."""
    locale = get_locale()
    return locale.language if locale is not None else "en"


def from_this_site() -> bool:
    """Whether the browser says the form came from one of our pages (Sec-Fetch-Site), so that
    another site cannot switch a visitor's language; a browser too old to say is believed."""
    return request.headers.get("Sec-Fetch-Site", "same-origin") in {"same-origin", "none"}


@bp.post("/language")
# No CSRF token: cached anonymous pages carry none. SameSite=Lax keeps a cross-site form from
# the account, and Sec-Fetch-Site from the visitor's cookie.
@csrf.exempt
def switch():
    """Remember the language picked on the switch (and save it on the account), then go back."""
    from storefront.auth import safe_next  # here: auth imports this module


    language = request.form.get("language", "")
    response = redirect(safe_next(request.form.get("next")), code=303)
    if language not in LANGUAGES or not from_this_site():
        return response
    if current_user.is_authenticated and current_user.locale != language:
        current_user.locale = language
        db.session.commit()
    response.set_cookie(
        LANGUAGE_COOKIE, language, max_age=LANGUAGE_COOKIE_AGE, httponly=True, samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response


def vary_by_language(response: Response) -> Response:
    """A page depends on the browser's languages and our cookie: caches must keep them apart."""
    if response.mimetype == "text/html":
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
    return response


def register(app: Flask) -> None:
    """Bind Flask-Babel with our selectors and give templates the switch's languages."""
    babel.init_app(app, locale_selector=chosen_language, timezone_selector=shop_timezone)
    app.register_blueprint(bp)
    app.after_request(vary_by_language)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, page_language=page_language)
