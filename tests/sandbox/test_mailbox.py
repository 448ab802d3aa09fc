"""The sandbox as the customer's mailbox: real SMTP in, GET /_sandbox/mail out, emptied by reset."""
from __future__ import annotations

import smtplib
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import requests

from tests.support.sandbox import start_sandbox

SHOP = "Shop <shop@example.com>"


def _send(port: int, message: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(message, to_addrs=to)


def _plain(to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = SHOP
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def test_a_plain_message_arrives_with_its_fields(sandbox):
    before = datetime.now(timezone.utc)
    message = _plain("ada@example.com", "Your receipt", "You paid 9.99 USD.\n")
    message["Message-ID"] = "<receipt-1@shop.example>"
    _send(sandbox.smtp_port, message)

    mails = sandbox.wait_for_mail("ada@example.com")
    assert len(mails) == 1
    mail = mails[0]
    assert mail["to"] == "ada@example.com"
    assert mail["subject"] == "Your receipt"
    assert mail["text"].strip() == "You paid 9.99 USD."
    assert mail["html"] == ""
    assert mail["message_id"] == "<receipt-1@shop.example>"
    received = datetime.fromisoformat(mail["received_at"])
    assert received.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= received <= datetime.now(timezone.utc) + timedelta(seconds=1)


def test_a_korean_multipart_message_is_decoded(sandbox):
    message = _plain("minsu@example.com", "정기결제 예정 안내", "다음 결제일은 2027년 12월 7일입니다.\n")
    message.add_alternative("<p>다음 결제일은 <a href=\"http://127.0.0.1:9/cancel\">해지</a></p>",
                            subtype="html")
    _send(sandbox.smtp_port, message)
    raw = sandbox.wait_for_mail("minsu@example.com")[0]
    # The subject travelled RFC 2047 encoded (smtplib encodes non-ASCII headers); the mailbox decodes it.
    assert raw["subject"] == "정기결제 예정 안내"
    assert "다음 결제일은 2027년 12월 7일입니다." in raw["text"]
    assert '<a href="http://127.0.0.1:9/cancel">해지</a>' in raw["html"]
    assert "<p>" not in raw["text"]


def test_each_recipient_has_the_message_and_to_is_case_insensitive(sandbox):
    message = _plain("Ada@Example.com, bob@example.com", "Hello both", "Hi.\n")
    _send(sandbox.smtp_port, message)
    sandbox.wait_for_mail("bob@example.com")
    ada = sandbox.mail("ADA@example.COM")
    assert [m["subject"] for m in ada] == ["Hello both"]
    assert [m["subject"] for m in sandbox.mail("bob@example.com")] == ["Hello both"]
    assert sandbox.mail("nobody@example.com") == []


def test_newest_first_and_without_to_all(sandbox):
    for number in (1, 2, 3):
        _send(sandbox.smtp_port, _plain("ada@example.com", f"Message {number}", "x\n"))
    _send(sandbox.smtp_port, _plain("bob@example.com", "For Bob", "x\n"))
    sandbox.wait_for_mail("ada@example.com", count=3)
    sandbox.wait_for_mail("bob@example.com")
    assert [m["subject"] for m in sandbox.mail("ada@example.com")] == ["Message 3", "Message 2", "Message 1"]
    everything = requests.get(f"{sandbox.url}/_sandbox/mail", timeout=10).json()
    assert [m["subject"] for m in everything] == ["For Bob", "Message 3", "Message 2", "Message 1"]
    assert {m["to"] for m in everything} == {"ada@example.com", "bob@example.com"}


def test_the_envelope_recipient_is_the_mailbox_even_for_bcc(sandbox):
    message = _plain("ada@example.com", "Copy", "x\n")
    _send(sandbox.smtp_port, message, to=["ada@example.com", "audit@example.com"])
    assert [m["subject"] for m in sandbox.wait_for_mail("audit@example.com")] == ["Copy"]


def test_reset_empties_the_mailbox(sandbox):
    _send(sandbox.smtp_port, _plain("ada@example.com", "Before", "x\n"))
    sandbox.wait_for_mail("ada@example.com")
    sandbox.control("POST", "/reset")
    assert sandbox.mail("ada@example.com") == []
    _send(sandbox.smtp_port, _plain("ada@example.com", "After", "x\n"))
    assert [m["subject"] for m in sandbox.wait_for_mail("ada@example.com")] == ["After"]


def test_messages_survive_a_restart(tmp_path):
    first = start_sandbox(tmp_path / "kept.sqlite3")
    try:
        _send(first.smtp_port, _plain("ada@example.com", "Kept", "x\n"))
        first.wait_for_mail("ada@example.com")
    finally:
        first.stop()
    second = start_sandbox(tmp_path / "kept.sqlite3")
    try:
        assert [m["subject"] for m in second.mail("ada@example.com")] == ["Kept"]
    finally:
        second.stop()


def test_the_storefront_is_pointed_at_the_mailbox(sandbox):
    settings = sandbox.storefront_settings()
    assert settings["MAIL_SERVER"] == "127.0.0.1"
    assert settings["MAIL_PORT"] == str(sandbox.smtp_port)
    assert sandbox.smtp_port != 0
    assert sandbox.sandbox.mailbox.port == sandbox.smtp_port


def test_the_smtp_server_stops_with_the_sandbox(tmp_path):
    running = start_sandbox(tmp_path / "stopping.sqlite3")
    port = running.smtp_port
    running.stop()
    try:
        smtplib.SMTP("127.0.0.1", port, timeout=2).close()
    except OSError:
        return
    raise AssertionError("the SMTP port still answers after stop()")
