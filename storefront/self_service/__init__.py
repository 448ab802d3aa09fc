"""Account self-service: password reset and change, e-mail confirmation and change, deleting the account."""

from flask import Blueprint

bp = Blueprint("self_service", __name__)

# The views register themselves on bp.
from storefront.self_service import deletion, email, password  # noqa: E402,F401

__all__ = ["bp"]
