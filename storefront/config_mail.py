"""The mail side of the settings: the SMTP server, the sender, the renewal notice's lead time."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parseaddr

from storefront.config_iamport import ConfigError, flag, is_placeholder

# The sandbox's SMTP server (the customer's mailbox in the demo) listens here unless told otherwise.
SANDBOX_SMTP_PORT = 1025
SANDBOX_FROM = "Northwind demo shop <shop@shop.example>"


def load(setting: Callable[[str, str], str], number: Callable[[str, str, str], int],
         live: bool) -> dict:
    """Flask-Mailman's settings plus MAIL_FROM and RENEWAL_NOTICE_DAYS, checked now (`setting`
    and `number` read one as config.load does).

    Live mode needs a mail server: the notice before each renewal and the written confirmation
    of the contract are the law's (콘텐츠이용자보호지침, 전자상거래법 §13②), not an option."""
    server = setting("MAIL_SERVER", "" if live else "127.0.0.1").strip()
    if live and is_placeholder(server):
        raise ConfigError("IAMPORT_MODE=live needs MAIL_SERVER (and MAIL_FROM): the shop must mail "
                          "receipts and the notice before each renewal; it is missing or a placeholder")
    port_default = str(587 if live else setting("SANDBOX_SMTP_PORT", str(SANDBOX_SMTP_PORT)))
    sender = setting("MAIL_FROM", "" if live else SANDBOX_FROM).strip()
    if not sender or "@" not in parseaddr(sender)[1] or (live and is_placeholder(parseaddr(sender)[1])):
        raise ConfigError(f"MAIL_FROM must be the shop's name and address, such as "
                          f"'Northwind <help@northwind.co.kr>', not {sender!r}")
    return {
        "MAIL_SERVER": server,
        "MAIL_PORT": number("MAIL_PORT", port_default, "port"),
        "MAIL_USE_TLS": flag(setting("MAIL_USE_TLS", ""), live),
        "MAIL_USE_SSL": flag(setting("MAIL_USE_SSL", ""), False),
        "MAIL_USERNAME": setting("MAIL_USERNAME", "") or None,
        "MAIL_PASSWORD": setting("MAIL_PASSWORD", "") or None,
        "MAIL_FROM": sender,
        "MAIL_DEFAULT_SENDER": sender,
        # Seconds an SMTP connection may take; a slow server leaves the message to the next run.
        "MAIL_TIMEOUT": number("MAIL_TIMEOUT", "10", "seconds"),
        "MAIL_BACKEND": "smtp",
        # Days before an automatic renewal on which its notice (amount, date, card) is mailed.
        "RENEWAL_NOTICE_DAYS": number("RENEWAL_NOTICE_DAYS", "7", "days"),
    }

