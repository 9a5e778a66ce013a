"""Email over SMTP: STARTTLS (default), implicit TLS or plain, with optional AUTH.

One message per notification, plain text, subject ``[FIRING] rule: summary``. The password
comes from ${ENV} or file: only; TLS verifies the server unless ``ca_file`` names the CA
(a private relay) or ``verify: false`` is set on purpose.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from collector.config_values import Section
from collector.yamlconf import Secret
from rules.digest import digest_title
from rules.notify.base import Notification, SendError, truncate

KEYS = ("type", "host", "port", "tls", "from", "to", "username", "password", "ca_file",
        "verify", "timeout")
_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass(frozen=True, slots=True)
class Options:
    host: str
    port: int
    tls: str
    sender: str
    to: tuple[str, ...]
    username: str | None = None
    password: Secret | None = None
    ca_file: str | None = None
    verify: bool = True
    timeout_s: float = 15.0


def parse(s: Section) -> Options:
    tls = s.choice("tls", tuple(_PORTS), "starttls")
    username, password = s.text("username"), s.secret("password")
    if (username is None) != (password is None):
        raise s.error("password" if password is None else "username",
                      "username and password go together")
    if password is not None and tls == "none":
        raise s.error("tls", "refusing to send a password without TLS", "use starttls or ssl")
    return Options(
        host=s.text("host", required=True), port=s.number("port", _PORTS[tls], minimum=1),
        tls=tls, sender=s.text("from", required=True), to=s.str_list("to", required=True),
        username=username, password=password, ca_file=s.text("ca_file"),
        verify=s.flag("verify", True), timeout_s=s.duration_ms("timeout", "15s") / 1000,
    )


def message_id(identity: str, o: Options) -> str:
    """The same for every send of one notification, by any process: a second send (a retry
    after a timeout that had in fact delivered, or a deposed rules leader that was paused
    between its lease check and the send, docs/operations-faults.md) carries the ID of the
    first, and mailboxes that keep one message per Message-ID (Gmail) or list servers that
    drop repeats show it once. Unique per notification, as RFC 5322 asks: alert key,
    action and decision time, and the recipients."""
    domain = parseaddr(o.sender)[1].rpartition("@")[2] or "midwatch.invalid"
    text = "\x1f".join((identity, *o.to))
    return f"<{hashlib.blake2b(text.encode(), digest_size=16).hexdigest()}.midwatch@{domain}>"


def _message(subject: str, o: Options, at_ms: int, identity: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = truncate(subject, 200).replace("\n", " ")
    msg["From"], msg["To"] = o.sender, ", ".join(o.to)
    msg["Date"] = formatdate(at_ms / 1000, usegmt=True)
    msg["Message-ID"] = message_id(identity, o)
    return msg


def compose(n: Notification, o: Options) -> EmailMessage:
    state = "RESOLVED" if n.action == "resolved" else "FIRING"
    msg = _message(f"[{state}] {n.rule}: {n.summary}", o, n.at_ms,
                   f"{n.key}\x1f{n.action}\x1f{n.at_ms}")
    msg["X-Midwatch-Dedup-Key"] = n.key
    msg.set_content("\n".join(_lines(n, state)) + "\n")
    return msg


def compose_digest(digest_id: str, group: dict[str, str], notes: list[Notification],
                   o: Options) -> EmailMessage:
    """One mail for a group's alerts (``group_by``): each alert's lines as in a single mail,
    firing first; ``X-Midwatch-Digest`` is the same when the mail is sent again."""
    msg = _message(digest_title(notes, group), o, max(n.at_ms for n in notes), digest_id)
    msg["X-Midwatch-Digest"] = digest_id
    parts = []
    for action in ("firing", "resolved"):
        parts += ["\n".join(_lines(n, action.upper())) for n in notes if n.action == action]
    msg.set_content("\n\n----\n\n".join(parts) + "\n")
    return msg


def _lines(n: Notification, state: str) -> list[str]:
    lines = [n.summary, ""]
    if n.annotations.get("description"):
        lines += [n.annotations["description"], ""]
    lines += [f"rule: {n.rule}", f"severity: {n.severity}", f"state: {state.lower()}",
              f"value: {n.value}", f"since: {n.iso(n.starts_ms)}"]
    lines += [f"{k}: {v}" for k, v in sorted(n.labels.items())]
    if n.message_ids:
        lines.append("sample message IDs: " + ", ".join(n.message_ids))
    lines += [f"{link['text']}: {link['href']}" for link in n.links()]
    return lines


class Email:
    kind = "email"

    def __init__(self, name: str, options: Options):
        self.name, self.options = name, options

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.options.ca_file)
        if not self.options.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def send(self, n: Notification, owed: tuple[str, ...] | None = None) -> None:
        """``owed``: the recipients a partly refused earlier send still owes (the outbox
        keeps them); the others already have this Message-ID and get no second copy."""
        self._deliver(compose(n, self.options), self._recipients(owed))

    def send_digest(self, digest_id: str, group: dict[str, str],
                    notes: list[Notification], owed: tuple[str, ...] | None = None) -> None:
        self._deliver(compose_digest(digest_id, group, notes, self.options),
                      self._recipients(owed))

    def _recipients(self, owed: tuple[str, ...] | None) -> tuple[str, ...]:
        """Everyone, or those owed that are still configured (``to`` edited and reloaded
        since: a removed address is owed nothing, and nobody left means nothing to send)."""
        return self.options.to if owed is None else tuple(r for r in owed if r in self.options.to)

    def _deliver(self, msg: EmailMessage, to: tuple[str, ...]) -> None:
        if not to:
            return
        o = self.options
        what = f"email ({self.name}) via {o.host}:{o.port}"
        # Whether the mail itself began to go out: a failure before (connect, STARTTLS not
        # offered, AUTH, a timeout there) delivered nothing.
        sending = False
        try:
            if o.tls == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(o.host, o.port, timeout=o.timeout_s,
                                                      context=self._context())
            else:
                smtp = smtplib.SMTP(o.host, o.port, timeout=o.timeout_s)
            try:
                if o.tls == "starttls":
                    smtp.starttls(context=self._context())
                if o.username and o.password:
                    smtp.login(o.username, o.password.reveal())
                sending = True
                refused = smtp.send_message(msg, to_addrs=list(to))
            finally:
                _quit(smtp)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _recipients_refused(what, exc.recipients, to, delivered=False) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"{what}: login refused ({exc.smtp_code})", retryable=False,
                            refused=True) from None
        except smtplib.SMTPResponseException as exc:
            raise SendError(f"{what}: server answered {exc.smtp_code} "
                            f"{exc.smtp_error.decode('utf-8', 'replace')[:200]}",
                            retryable=exc.smtp_code >= 400 and exc.smtp_code < 500,
                            refused=True) from None
        except (TimeoutError, smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise SendError(f"{what}: {type(exc).__name__}: {exc}", retryable=True,
                            refused=not sending) from None
        if refused:
            # The server took the mail for the others: without this the page counted as
            # delivered while these recipients never got it.
            raise _recipients_refused(what, refused, to, delivered=True)


def _quit(smtp: smtplib.SMTP) -> None:
    """End the session, whatever the server answers to QUIT or if it is gone: the mail was
    taken or refused before. (``with smtp:`` raised on an answer other than 221, so a mail
    the server had taken was sent again or failed for good, and an error before QUIT was
    replaced by QUIT's.)"""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _recipients_refused(what: str, refused: dict, to: tuple[str, ...], *,
                        delivered: bool) -> SendError:
    """Recipients the server refused, each with its reply. Those refused for good (5xx) are
    ``lost``: ``notify_failed`` in the alert history (which pages the fallback) at once, even
    while others are still retried. The rest is ``owed``: when the server took the mail for
    some, the retry goes to the 4xx ones alone, so nobody gets a second copy; when it took
    it for none (every RCPT refused, or a 421 that closes the session and leaves the
    recipients after it unasked), to every recipient not lost."""
    answers = "; ".join(f"{rcpt} {code} {bytes(text).decode('utf-8', 'replace')[:100]}"
                        for rcpt, (code, text) in sorted(refused.items()))
    lost = tuple(sorted(r for r, (code, _) in refused.items() if not 400 <= code < 500))
    owed = tuple(r for r in (refused if delivered else to) if r not in lost)
    return SendError(f"{what}: {len(refused)} of {len(to)} recipients refused: {answers}",
                     retryable=bool(owed), refused=not delivered, owed=owed, lost=lost)


NOTIFIER = Email
