"""Email against a real local SMTP server (aiosmtpd) with STARTTLS and AUTH."""

from __future__ import annotations

import contextlib
import dataclasses
import email
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from tls_support import self_signed_server

from collector.yamlconf import Secret
from rules.notify import email as email_notify
from rules.notify.base import Notification, SendError


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"midwatch"
          and auth_data.password == b"pa55word")
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Inbox, int, Path]]:
    cert, tls = self_signed_server(tmp_path, "DNS:localhost")
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=tls,
                            require_starttls=True, authenticator=_authenticator,
                            auth_require_tls=True, server_hostname="localhost")
    controller.start()
    yield inbox, port, cert
    controller.stop()


def _note(action: str = "firing") -> Notification:
    return Notification(
        action=action, rule="o2c-failures", key="k1", severity="critical",
        labels={"flow": "o2c"}, annotations={"summary": "o2c: 12.0% failed",
                                             "runbook_url": "https://runbooks.example.com/o2c"},
        value=0.12, starts_ms=1_709_546_400_000, at_ms=1_709_546_700_000,
        expires_ms=1_709_561_100_000, message_ids=("order-4711",))


def _options(port: int, cert: Path, password: str = "pa55word") -> email_notify.Options:
    return email_notify.Options(host="localhost", port=port, tls="starttls",
                                sender="midwatch@example.com", to=("oncall@example.com",),
                                username="midwatch", password=Secret(password, "env:SMTP"),
                                ca_file=str(cert))


def test_email_over_starttls_with_auth(smtp):
    inbox, port, cert = smtp
    mailer = email_notify.Email("mail", _options(port, cert))
    mailer.send(_note())
    mailer.send(_note("resolved"))
    (sender, rcpts, raw), (_, _, raw2) = inbox.messages
    msg, resolved = email.message_from_bytes(raw), email.message_from_bytes(raw2)
    assert sender == "midwatch@example.com" and rcpts == ["oncall@example.com"]
    assert msg["Subject"] == "[FIRING] o2c-failures: o2c: 12.0% failed"
    assert msg["X-Midwatch-Dedup-Key"] == "k1"
    body = msg.get_payload(decode=True).decode()
    assert "sample message IDs: order-4711" in body and "Runbook: https://runbooks" in body
    assert resolved["Subject"].startswith("[RESOLVED] o2c-failures")


def test_email_wrong_password_is_not_retried(smtp):
    _, port, cert = smtp
    with pytest.raises(SendError) as exc:
        email_notify.Email("mail", _options(port, cert, "wrong")).send(_note())
    assert not exc.value.retryable and "login refused (535)" in str(exc.value)
    assert "wrong" not in str(exc.value)


def test_email_refuses_an_unknown_certificate(smtp):
    _, port, _ = smtp
    opts = _options(port, Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"))
    with pytest.raises(SendError, match="SSLCertVerificationError"):
        email_notify.Email("mail", opts).send(_note())


def test_ten_alerts_through_the_outbox_make_one_digest_mail(smtp, tmp_path):
    """group_by on an email notifier: ten firings of one rule in the SQLite outbox become one
    mail listing all ten; every record is delivered."""
    from dataclasses import replace

    from collector.store.paging import outbox_for
    from collector.store.sqlite import SQLiteStore
    from rules.delivery import Delivery
    from rules.digest import Grouping

    inbox, port, cert = smtp
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    box = outbox_for(store)
    d = Delivery([email_notify.Email("mail", _options(port, cert))], box, lambda docs: None,
                 grouping={"mail": Grouping(("rule",), wait_ms=0)})
    for i in range(10):
        d.submit(["mail"], replace(_note(), key=f"k{i}", labels={"flow": "o2c", "partner": f"p{i}"}))
    d.flush()
    assert d.deliver("mail") == 10
    (_, _, raw), = inbox.messages
    msg = email.message_from_bytes(raw)
    assert msg["Subject"] == "[FIRING:10] rule=o2c-failures"
    assert len(msg["X-Midwatch-Digest"]) == 24
    body = msg.get_payload(decode=True).decode()
    assert sorted(line for line in body.splitlines() if line.startswith("partner: ")) == \
        sorted(f"partner: p{i}" for i in range(10))
    assert {r["state"] for r in box.of_rule("o2c-failures", 20)} == {"delivered"}
    assert d.deliver("mail") == 0  # nothing sent twice
    store.close()


def test_a_notification_sent_twice_carries_one_message_id(smtp):
    """Two sends of one notification (a retry after a timeout that had delivered, or a
    deposed leader paused between its lease check and the send) are the same message to a
    mailbox that keeps one copy per Message-ID; another action or decision is not."""
    inbox, port, cert = smtp
    opts = _options(port, cert)
    first, again = email_notify.Email("mail", opts), email_notify.Email("mail", opts)
    first.send(_note())
    again.send(_note())
    first.send(_note("resolved"))
    ids = [email.message_from_bytes(raw)["Message-ID"] for _, _, raw in inbox.messages]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("<") and ids[0].endswith(">") and "@" in ids[0]
    assert ids[0].endswith("@example.com>")  # the sender's domain
    other = dataclasses.replace(opts, to=("someone-else@example.com",))
    assert email_notify.compose(_note(), other)["Message-ID"] != ids[0]


class PickyInbox(Inbox):
    """Refuses some recipients, as a relay does for an unknown or over-quota mailbox."""

    def __init__(self, refuse: dict[str, str]) -> None:
        super().__init__()
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.mark.parametrize(("refuse", "retryable"), [
    ({"gone@example.com": "550 5.1.1 no such user"}, False),
    ({"full@example.com": "452 4.2.2 mailbox full"}, True),
])
def test_a_recipient_the_server_refuses_is_not_a_delivered_page(refuse, retryable):
    """The relay takes the mail for one on-call address and refuses the other: that was
    counted as delivered, the second person never paged and nothing said so."""
    with _picky_relay(refuse) as (inbox, port):
        opts = email_notify.Options(host="127.0.0.1", port=port, tls="none",
                                    sender="midwatch@example.com",
                                    to=("oncall@example.com", *refuse))
        with pytest.raises(SendError) as err:
            email_notify.Email("mail", opts).send(_note())
        assert (err.value.retryable, err.value.refused) == (retryable, False)
        (rcpt,) = refuse
        assert f"1 of 2 recipients refused: {rcpt} {refuse[rcpt][:3]}" in str(err.value)
        assert [to for _, to, _ in inbox.messages] == [["oncall@example.com"]]
        opts_all = dataclasses.replace(opts, to=tuple(refuse))
        with pytest.raises(SendError) as err:
            email_notify.Email("mail", opts_all).send(_note())
        assert (err.value.retryable, err.value.refused) == (retryable, True)


@contextlib.contextmanager
def _picky_relay(refuse: dict[str, str]) -> Iterator[tuple[PickyInbox, int]]:
    """A real local SMTP relay refusing ``refuse``'s recipients with their replies."""
    inbox = PickyInbox(refuse)
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_the_owed_recipients_still_configured_get_the_retry():
    """A retry goes to the recipients still owed; one removed from ``to`` since (a reload)
    is owed nothing, and with nobody left nothing is sent."""
    with _picky_relay({}) as (inbox, port):
        opts = email_notify.Options(host="127.0.0.1", port=port, tls="none",
                                    sender="midwatch@example.com",
                                    to=("ann@example.com", "bob@example.com"))
        mailer = email_notify.Email("mail", opts)
        mailer.send(_note(), owed=("bob@example.com", "gone@example.com"))
        mailer.send(_note(), owed=("gone@example.com",))
        (_, rcpts, raw), = inbox.messages
        assert rcpts == ["bob@example.com"]
        assert email.message_from_bytes(raw)["To"] == "ann@example.com, bob@example.com"


class CrossQuit(Inbox):
    """Takes the mail (250 after DATA), then answers QUIT with ``answer``, not 221."""

    def __init__(self, answer: str) -> None:
        super().__init__()
        self.answer = answer

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802
        return self.answer


@pytest.mark.parametrize("answer", ["421 4.4.2 idle too long, closing", "554 5.0.0 bye"])
def test_a_mail_the_server_took_is_delivered_whatever_it_answers_to_quit(answer):
    """The server answered 250 to the mail, then something other than 221 to QUIT: that
    raised out of the ``with`` block, so a delivered mail was sent again (4xx) or failed for
    good and paged the fallback (5xx). Once the mail is taken, QUIT's answer changes nothing."""
    inbox = CrossQuit(answer)
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        opts = email_notify.Options(host="127.0.0.1", port=port, tls="none",
                                    sender="midwatch@example.com", to=("oncall@example.com",))
        email_notify.Email("mail", opts).send(_note())
    finally:
        controller.stop()
    assert [to for _, to, _ in inbox.messages] == [["oncall@example.com"]]


def test_a_server_without_starttls_gets_nothing_and_the_page_is_not_maybe_delivered():
    """``tls: starttls`` and a relay that does not offer STARTTLS (misconfigured, or the
    offer stripped on the way): nothing is sent in plain, and the failure says nothing went
    out. It said the mail may have arrived, so the outbox marked the firing maybe delivered
    and sent its resolve, a RESOLVED mail for a page nobody got."""
    with _picky_relay({}) as (inbox, port):
        opts = email_notify.Options(host="127.0.0.1", port=port, tls="starttls",
                                    sender="midwatch@example.com", to=("oncall@example.com",))
        with pytest.raises(SendError) as err:
            email_notify.Email("mail", opts).send(_note())
    assert "STARTTLS extension not supported" in str(err.value)
    assert (err.value.retryable, err.value.refused) == (True, True)
    assert inbox.messages == []
