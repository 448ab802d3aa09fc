"""Sign-up's password rules: long enough, not a common password, not the shopper's e-mail or name."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from flask_babel import gettext as _

MIN_LENGTH = 10
MAX_LENGTH = 128
# The 10,000 most common passwords (Django's list; source and license in the file's header).
COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")
# Name and e-mail words shorter than this are left in: "Lee", "Kim" or "Ada" are in too many
# words ("fleece", "akimbo") to take them out of a password.
MIN_PERSONAL_WORD = 4


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-case."""
    with COMMON_PASSWORDS.open(encoding="utf-8") as fh:
        lines = (line.rstrip("\n") for line in fh)
        # The header's lines start with "# " (or are "#"); "#1bitch" is a password of the list.
        return frozenset(line for line in lines
                         if line and line != "#" and not line.startswith("# "))


def _personal_words(email: str, first_name: str, last_name: str) -> list[str]:
    """The e-mail, its name part, and the words of it and of the names, longest first."""
    local = email.partition("@")[0]
    words = {email, local, first_name, last_name}
    for text in (local, first_name, last_name):
        words.update(re.split(r"[\W_]+", text))
    return sorted((w for w in words if len(w) >= MIN_PERSONAL_WORD), key=len, reverse=True)


def password_problem(password: str, email: str = "", first_name: str = "",
                     last_name: str = "") -> str | None:
    """Why this password may not be chosen by this shopper, in words for the form (in the page's
    language); None if it may."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return _("The password must have %(min)d to %(max)d characters.", min=MIN_LENGTH,
                 max=MAX_LENGTH)
    lowered = password.strip().lower()
    if lowered in common_passwords():
        return _("This is one of the most common passwords, the first an attacker tries. "
                 "Please choose another.")
    email, first_name, last_name = (
        (value or "").strip().lower() for value in (email, first_name, last_name)
    )
    if email and lowered == email:
        return _("The password must not be your e-mail address.")
    if email and lowered == email.partition("@")[0]:
        return _("The password must not be the part of your e-mail address before the @.")
    rest = lowered
    for word in _personal_words(email, first_name, last_name):
        rest = rest.replace(word, "")
    if len(rest) < MIN_LENGTH:
        return _("The password is little more than your name or e-mail address. Please use at "
                 "least %(min)d characters besides them.", min=MIN_LENGTH)
    return None
