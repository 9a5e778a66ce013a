"""What happens to every event after its parser, the same way for every format.

Parsers report what the source said; this module makes events comparable across platforms:
one level vocabulary, one error taxonomy (``midwatch.error_class``), a signature that groups
recurring errors, a chosen ``midwatch.message_id``, and redaction so that card numbers and
emails never reach a store, a page or a terminal.

Decisions worth knowing:

- ``midwatch.message_id`` keeps the typed form (``correlation:6f1c``), like ``midwatch.ids``,
  so the key says which namespace it lives in.
- The signature is a 16-hex-digit hash of platform, error type and the masked message
  template; the template itself is kept in ``labels.signature_template`` so an alert or a
  board can show what the group looks like without another lookup.
- Card numbers are replaced only when they pass the Luhn check and start like a real PAN
  (2-6), so order numbers and timestamps survive. Redaction also covers labels and typed
  IDs: an ID is as stored as a message is.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from collector.event import LEVELS, Event
from collector.parsers.base import ParseContext

MAX_MESSAGE = 32 * 1024
MAX_STACK = 64 * 1024
REDACTED = "[REDACTED]"
CARD_MASK = "[REDACTED:card]"
EMAIL_MASK = "[REDACTED:email]"

_LEVELS = {
    "trace": "debug", "debug": "debug", "dbg": "debug", "fine": "debug", "finer": "debug",
    "finest": "debug", "config": "debug", "verbose": "debug", "all": "debug",
    "info": "info", "information": "info", "informational": "info", "notice": "info",
    "i": "info", "inf": "info",
    "warn": "warn", "warning": "warn", "w": "warn", "wrn": "warn",
    "error": "error", "err": "error", "e": "error", "severe": "error", "failure": "error",
    "fatal": "fatal", "critical": "fatal", "crit": "fatal", "emerg": "fatal",
    "emergency": "fatal", "alert": "fatal", "panic": "fatal", "s": "fatal",
}
# Syslog numeric severities and Windows event levels are both 0-7 style numbers.
_SYSLOG_LEVELS = ("fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug")


def normalize_level(raw: object, default: str = "info") -> str:
    """Any level a platform writes (WARNING, ERR, SEVERE, TRACE, CRITICAL, 3) -> our five."""
    if raw is None:
        return default
    text = str(raw).strip().lower()
    if text in LEVELS:
        return text
    level = _LEVELS.get(text)
    if level:
        return level
    if text.isdigit():
        n = int(text)
        return _SYSLOG_LEVELS[n] if n < len(_SYSLOG_LEVELS) else default
    return default


# --- redaction ---------------------------------------------------------------------------

# No lookbehind, so the engine can skip ahead to the first 2-6; a match that starts inside a
# longer number is rejected in ``_card_sub`` by looking at the character before it.
_CARD = re.compile(r"[2-6]\d(?:[ -]?\d){11,17}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]+\.")
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _card_sub(m: re.Match) -> str:
    text = m.group(0)
    start = m.start()
    if start and m.string[start - 1] in "0123456789.":
        return text
    digits = text.replace(" ", "").replace("-", "")
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return CARD_MASK
    return text


def redact_text(text: str, cards: bool = True, emails: bool = True) -> str:
    """Mask Luhn-valid card numbers and email addresses in free text."""
    if cards and len(text) >= 13:
        text = _CARD.sub(_card_sub, text)
    if emails and "@" in text:
        text = _EMAIL.sub(EMAIL_MASK, text)
    return text


# Document paths a configured ``redaction.fields`` entry may name, mapped to Event slots.
_FIELD_SLOTS = {
    "message": "message", "error.message": "error_message",
    "error.stack_trace": "error_stack_trace", "midwatch.partner": "partner",
    "service.name": "service", "host.name": "host",
}


def _has_email(text: str) -> bool:
    """An @ between a local-part character and a dotted domain (not a thread's "@5a1b2c")."""
    at = text.find("@")
    while at > 0:
        if text[at - 1] in _LOCAL_CHARS and _EMAIL_DOMAIN.match(text, at + 1):
            return True
        at = text.find("@", at + 1)
    return False


def _sensitive(ev: Event, cards: bool, emails: bool) -> bool:
    """One scan over all of an event's text: most events hold nothing to redact."""
    blob = "\x1f".join((ev.message, ev.error_message or "", ev.error_stack_trace or "",
                        *ev.labels.values(), *ev.ids))
    return (emails and _has_email(blob)) or (cards and _CARD.search(blob) is not None)


def _redact(ev: Event, ctx: ParseContext) -> None:
    cards, emails = ctx.redact_cards, ctx.redact_emails
    if (cards or emails) and _sensitive(ev, cards, emails):
        ev.message = redact_text(ev.message, cards, emails)
        if ev.error_message:
            ev.error_message = redact_text(ev.error_message, cards, emails)
        if ev.error_stack_trace:
            ev.error_stack_trace = redact_text(ev.error_stack_trace, cards, emails)
        for key, value in ev.labels.items():
            ev.labels[key] = redact_text(value, cards, emails)
        ev.ids = [redact_text(i, cards, emails) for i in ev.ids]
    for path in ctx.redact_fields:
        if path.startswith("labels."):
            key = path[len("labels."):]
            if key in ev.labels:
                ev.labels[key] = REDACTED
        elif path in _FIELD_SLOTS and getattr(ev, _FIELD_SLOTS[path]):
            setattr(ev, _FIELD_SLOTS[path], REDACTED)
        elif path == "midwatch.ids":
            ev.ids = [i.split(":", 1)[0] + ":" + REDACTED for i in ev.ids]


# --- error classification ----------------------------------------------------------------

# Order matters: the first class that matches wins, most specific first ("TLS handshake
# timed out" is a certificate problem to fix, not a timeout to wait out).
_CLASS_PATTERNS: tuple[tuple[str, str], ...] = (
    ("certificate", r"pkix|certificate|certpath|SSLHandshake|ssl handshake|tls handshake|"
                    r"handshake_failure|handshake fail|x509|unable to find valid certification|"
                    r"CERT_HAS_EXPIRED|self[- ]signed|SECURITY:CERTIFICATE|\bSSL(?:Exception)?\b"),
    ("throttling", r"\b429\b|too many requests|throttl|rate[- ]?limit|quota exceeded|"
                   r"TOO_MANY_REQUESTS|SpikeArrest|slow down"),
    ("auth", r"(?:status(?:[ _]?code)?|http|response|returned|code)[\s:=(\"']{0,3}40[13]\b|"
             r"\(40[13]\)|\b40[13] (?:unauthori[sz]ed|forbidden)|unauthori[sz]ed|forbidden|"
             r"authenticat\w* fail|invalid credential|access denied|permission denied|"
             r"not authori[sz]ed|invalid[_ ]token|token expired|invalid_grant|"
             r"(?:HTTP|MULE|SECURITY):(?:UNAUTHORIZED|FORBIDDEN|CLIENT_SECURITY)|"
             r"Login failed|AuthenticationException|AccessDenied"),
    ("timeout", r"timed?[ _-]?out|timeout|deadline exceeded|\b504\b|gateway time-?out|"
                r"ETIMEDOUT|took too long"),
    ("resource", r"OutOfMemory|out of memory|heap space|GC overhead|too many open files|"
                 r"no space left|disk (?:is )?full|resource(?:s)? exhausted|RESOURCE_EXHAUSTED|"
                 r"MemoryError|pool exhausted|insufficient (?:memory|storage)|"
                 r"StackOverflowError|RejectedExecution|BACKPRESSURE|OVERLOAD"),
    ("duplicate", r"duplicate|already exists|unique constraint|unique key|ORA-00001|"
                  r"violation of (?:primary|unique) key|DUPLICATE_MESSAGE|already processed"),
    ("validation", r"schema|validat|cvc-[\w.-]+|not valid|invalid (?:document|message|payload|"
                   r"format|input|json|xml)|malformed|unexpected (?:character|token|element)|"
                   r"SCHEMA_NOT_HONOURED|\bBIP5\d{3}|parse ?error|ParseException|"
                   r"SAXParseException|\b400\b|bad request|HTTP:BAD_REQUEST|"
                   r"required (?:field|element|property)|missing (?:required|mandatory)"),
    ("mapping", r"dataweave|MULE:EXPRESSION|TRANSFORMATION|\bmapping\b|\bmap (?:shape|error)|"
                r"cannot coerce|XSLT|transform\w* (?:error|fail)|"
                r"Unable to call|no mapping|ScriptException|BIP2230|BIP2488|ESQL"),
    ("connectivity", r"connect(?:ion)? ?refused|ConnectException|connection reset|"
                     r"ECONNREFUSED|ECONNRESET|EHOSTUNREACH|UnknownHost|no route to host|"
                     r"host unreachable|name or service not known|CONNECTIVITY|broken pipe|"
                     r"\b50[23]\b|service unavailable|bad gateway|connection (?:closed|lost|"
                     r"aborted)|could not connect|unable to connect|failed to connect|"
                     r"NoRouteToHost|SocketException|remote host closed|channel closed|"
                     r"BIP3[01]\d\d|MQRC_(?:HOST|Q_MGR|CONNECTION)"),
)
_CLASS_ORDER = {name: rank for rank, (name, _) in enumerate(_CLASS_PATTERNS)}
# One scan finds every class that matches anywhere; the best-ranked one wins.
_CLASS_RX = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _CLASS_PATTERNS),
                       re.IGNORECASE)
_STACK_SCAN = 2048


@lru_cache(maxsize=4096)
def _best_class(text: str) -> str | None:
    """Cached: the same error text recurs (that is what signatures are for), and one scan of
    the combined pattern costs tens of microseconds."""
    found = {m.lastgroup for m in _CLASS_RX.finditer(text)}
    return min(found, key=_CLASS_ORDER.__getitem__) if found else None


def classify_error(ev: Event) -> str:
    """The error class of a failed event; type and code are trusted before free text."""
    head = " ".join(p for p in (ev.error_type, ev.error_code) if p)
    if head:
        found = _best_class(head)
        if found:
            return found
    parts = [ev.error_message or "", ev.message or ""]
    if ev.error_stack_trace:
        parts.append(ev.error_stack_trace[:_STACK_SCAN])
    return _best_class("\n".join(parts)) or "unknown"


# --- signatures --------------------------------------------------------------------------

_MASKS: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?", "<ts>"),
        (r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<ts>"),
        (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "<email>"),
        (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>"),
        (r"(?<=://)[^/\s:'\"]+", "<host>"),
        (r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "<ip>"),
        (r"\b(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}\b", "<ip>"),
        (r"\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|local|internal|corp|lan|intra|cloud|svc|"
         r"de|uk|fr|nl|eu|us|ch|at|it|es)(?![\w.-])", "<host>"),
        (r"'[^'\n]{0,200}'", "'<str>'"),
        (r"\"[^\"\n]{0,200}\"", "\"<str>\""),
        (r"\b(?:0x)?(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b", "<hex>"),
        # Alphanumeric identifiers (INV-20001, C-123, orders-7, host-2, ORD12345): one kind of
        # error with a different invoice, customer or host is one signature.
        (r"(?<![\w-])(?:[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*[-_]\d+|[A-Za-z]+\d{3,})"
         r"(?![\w-])", "<id>"),
        (r"(?<![\w-])[-+]?\d+(?:[.,]\d+)*(?![\w])", "<n>"),
        (r"(?<![\w-])\d+(?:ms|s|m|h|kb|mb|gb|b)\b", "<n>"),
    )
)
MAX_TEMPLATE = 300


def message_template(text: str) -> str:
    """The first line of an error message with its variables masked."""
    line = text.strip().split("\n", 1)[0][:1024]
    for rx, repl in _MASKS:
        line = rx.sub(repl, line)
    return line[:MAX_TEMPLATE]


def signature(platform: str, error_type: str | None, template: str) -> str:
    raw = f"{platform}\x1f{error_type or ''}\x1f{template}".encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


# --- the whole step ----------------------------------------------------------------------

def _is_failure(ev: Event) -> bool:
    return ev.outcome == "failure" or ev.level in ("error", "fatal")


def _dedupe(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in ids if i and not i.endswith(":")))


def normalize(ev: Event, ctx: ParseContext) -> Event:
    """Make a freshly parsed event uniform (in place) and return it."""
    if ev.level not in LEVELS:
        ev.level = normalize_level(ev.level)
    if ev.outcome == "unknown" and ev.level in ("error", "fatal"):
        ev.outcome = "failure"
    if ev.action is None and ev.outcome == "failure":
        ev.action = "failed"
    if len(ev.message) > MAX_MESSAGE:
        ev.message = ev.message[:MAX_MESSAGE]
    if ev.error_stack_trace and len(ev.error_stack_trace) > MAX_STACK:
        ev.error_stack_trace = ev.error_stack_trace[:MAX_STACK]
    if len(ev.ids) > 1:
        ev.ids = _dedupe(ev.ids)
    _redact(ev, ctx)
    if ev.message_id is None and ev.ids:
        ev.message_id = ev.ids[0]
    if not ev.ingested_ms:
        ev.ingested_ms = ctx.now_ms
    if _is_failure(ev) or ev.error_type or ev.error_code:
        if ev.error_class is None and _is_failure(ev):
            ev.error_class = classify_error(ev)
        if ev.signature is None:
            template = message_template(ev.error_message or ev.message or ev.error_type or "")
            ev.signature = signature(ev.platform, ev.error_type, template)
            ev.labels.setdefault("signature_template", template)
    return ev
