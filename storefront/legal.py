"""The terms of use (이용약관) and the privacy policy (개인정보처리방침), one page each per language."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, render_template

from storefront.i18n import page_language

bp = Blueprint("legal", __name__)

# When the texts below took effect; a change to them gets a new date (and notice to subscribers).
TERMS_EFFECTIVE = datetime(2026, 12, 1, tzinfo=timezone.utc)
PRIVACY_EFFECTIVE = datetime(2026, 12, 7, tzinfo=timezone.utc)
# The versions sign-up's consents are recorded with (storefront/consents.py): a new version of a
# text asks every account to agree to it again at its next log-in.
TERMS_VERSION = "2026-12"
PRIVACY_VERSION = "2026-12"


# Long legal text is written per language (templates/legal/<page>.<language>.html), as a lawyer
# would hand it over, rather than as hundreds of catalog entries.
@bp.get("/terms")
def terms():
    """이용약관: the terms of the subscription."""
    return render_template(f"legal/terms.{page_language()}.html", effective=TERMS_EFFECTIVE)


@bp.get("/privacy")
def privacy():
    """개인정보처리방침: what the shop keeps about a shopper, why, for how long, and who answers."""
    return render_template(f"legal/privacy.{page_language()}.html", effective=PRIVACY_EFFECTIVE)
