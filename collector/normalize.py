"""What happens to every event after its parser, the same way for every format.

Parsers report what the source said; this module makes events comparable across platforms:
one level vocabulary, one error taxonomy (``midwatch.error_class``), a signature that groups
recurring errors, a chosen ``midwatch.message_id``, and redaction so that card numbers and
emails never reach a store, a page or a terminal.

Decisions worth knowing:

- Field bounds (``MAX_*`` below): a longer value keeps its head and ends in ``…[truncated]``
  (IDs: ``…[truncated <digest>]``), a number beyond a 64-bit field is dropped, and
  ``labels.midwatch_truncated`` names what was cut.
  IDs are taken from the full text by the parsers, before any of this.

- ``midwatch.message_id`` keeps the typed form (``correlation:6f1c``), like ``midwatch.ids``,
  so the key says which namespace it lives in.
- The signature is a 16-hex-digit hash of platform, error type and the masked message
  template; the template itself is kept in ``labels.signature_template`` so an alert or a
  board can show what the group looks like without another lookup.
- Card numbers are replaced only when they pass the Luhn check and start like a real PAN
  (2-6), so order numbers and timestamps survive. Redaction also covers labels and typed
  IDs: an ID is as stored as a message is.
- A redacted value becomes a token, ``[card:<24 hex>]``, ``[email:<24 hex>]``: the
  HMAC-SHA256 of the value under the install's key (``collector.redaction_key``), not a fixed
  mask. A fixed mask made every card-like order number the same ID and merged unrelated
  messages into one trace; a keyed token keeps equal values equal and different values apart,
  and without the key nobody can test guesses against it. 24 hex digits are 96 bits: among a
  billion distinct values the chance that any two share a token is about 6 in 10^12 (birthday
  bound n^2 / 2^97), while the token stays short enough to read in a trace.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache, partial
from operator import attrgetter

from collector.event import LEVELS, Event, lower_keys
from collector.parsers._base import PROCESS_KEY, ParseContext
from collector.parsers._fields import MAX_LABEL_VALUE
from collector.timeparse import settle_time

MAX_MESSAGE = 32 * 1024
MAX_STACK = 64 * 1024
MAX_ORIGINAL = 16 * 1024  # the source line as the explorer shows it
# Field bounds (characters): a value beyond its bound keeps its head and ends in TRUNCATED,
# and ``labels.midwatch_truncated`` names the fields cut. IDs also keep a digest of the whole
# value, so two long IDs sharing a head still tell apart (they join traces).
MAX_ID = 256
MAX_NAME = 256
MAX_LABEL_KEY = 128
TRUNCATED = "…[truncated]"
TRUNCATED_LABEL = "midwatch_truncated"
_NAME_SLOTS = ("service", "host", "flow", "stage", "partner", "error_type", "error_code")
_ID_SLOTS = ("trace_id", "span_id", "message_id")
_NUMBER_SLOTS = ("duration_ns", "payload_bytes", "probe_value")
_LONG = 2**63
_SHORT = min(MAX_NAME, MAX_ID)
_bounded = attrgetter(*_NAME_SLOTS, *_ID_SLOTS)
_numbers = attrgetter(*_NUMBER_SLOTS)
_NO_NUMBERS = (None,) * len(_NUMBER_SLOTS)
REDACTED = "[REDACTED]"
TOKEN_HEX = 24  # see the module docstring for why 96 bits

_LEVELS = {
    "trace": "debug", "debug": "debug", "dbg": "debug", "fine": "debug", "finer": "debug",
    "finest": "debug", "config": "debug", "verbose": "debug", "all": "debug",
    "info": "info", "information": "info", "informational": "info", "notice": "info",
    "i": "info", "inf": "info",
    "warn": "warn", "warning": "warn", "w": "warn", "wrn": "warn",
    "error": "error", "err": "error", "e": "error", "severe": "error", "failure": "error",
    "fatal": "fatal", "critical": "fatal", "crit": "fatal", "emerg": "fatal",
    "emergency": "fatal", "alert": "fatal", "panic": "fatal", "s": "fatal",
    # RabbitMQ 3.9+ (rabbit_logger_fmt_helpers.erl): four letters when no level_format is
    # set (lc4: dbug info noti warn erro crit alrt emgc), three with lc3 (dbg inf ntc wrn err
    # crt alt emg); the upper-case forms lower-case to these.
    "dbug": "debug", "noti": "info", "erro": "error", "alrt": "fatal", "emgc": "fatal",
    "ntc": "info", "crt": "fatal", "alt": "fatal", "emg": "fatal",
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
    if text.isascii() and text.isdigit() and len(text) < 3:  # '²' is a digit to isdigit
        n = int(text)
        return _SYSLOG_LEVELS[n] if n < len(_SYSLOG_LEVELS) else default
    return default


# --- redaction ---------------------------------------------------------------------------

# No lookbehind, so the engine can skip ahead to the first 2-6; a match that starts inside a
# longer number is rejected in ``_card_sub`` by looking at the character before it.
_CARD = re.compile(r"[2-6]\d(?:[ -]?\d){11,17}(?!\d)")
# A match starts only where a local part can start (the lookbehind): else each position of a
# long run of local-part characters was tried to its end, quadratic in the run (a 32 KiB
# message with an email took 2.7 s; a 1 MiB line dead-lettered with an "@" in it, hours).
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]+\.")
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
# ``_may_hold_card``: digits become "0", blanks and dashes (the separators a card number may
# have) are dropped, everything else becomes "x"; a card leaves 13 zeros in a row.
_DIGIT_RUNS = bytes.maketrans(bytes(range(256)),
                              bytes(48 if 48 <= b <= 57 else 120 for b in range(256)))
_THIRTEEN_DIGITS = b"0" * 13


def _may_hold_card(text: str) -> bool:
    """Whether ``_CARD`` might match ``text``: never False where it does. An ASCII text
    without 13 digits in a row (blanks and dashes between them aside) holds no card, and
    finding that out with one ``bytes.translate`` costs a tenth of the regex scan, which
    tries a match at every digit 2-6 of every timestamp, UUID and IP address. Other text
    (``\\d`` also matches digits of other scripts) goes to the regex."""
    if not text.isascii():
        return True
    return _THIRTEEN_DIGITS in text.encode("ascii").translate(_DIGIT_RUNS, b" -")


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


def token(kind: str, value: str, key: bytes) -> str:
    """``[kind:hex]``: the keyed, non-reversible stand-in for a redacted value."""
    digest = hmac.new(key, f"{kind}\x1f{value}".encode("utf-8", "surrogatepass"),
                      hashlib.sha256).hexdigest()
    return f"[{kind}:{digest[:TOKEN_HEX]}]"


def _card_sub(key: bytes, m: re.Match) -> str:
    text = m.group(0)
    start = m.start()
    if start and m.string[start - 1] in "0123456789.":
        return text
    digits = text.replace(" ", "").replace("-", "")
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return token("card", digits, key)  # spaced or dashed, one card is one token
    return text


def _email_sub(key: bytes, m: re.Match) -> str:
    # The domain is case-insensitive (RFC 5321), the local part is not.
    local, _, domain = m.group(0).rpartition("@")
    return token("email", f"{local}@{domain.lower()}", key)


def redact_text(text: str, cards: bool = True, emails: bool = True,
                key: bytes = PROCESS_KEY) -> str:
    """Replace Luhn-valid card numbers and email addresses in free text with their tokens."""
    if cards and len(text) >= 13 and _may_hold_card(text):
        text = _CARD.sub(partial(_card_sub, key), text)
    if emails and "@" in text:
        text = _EMAIL.sub(partial(_email_sub, key), text)
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
                        ev.original or "", *ev.labels.values(), *ev.ids))
    return (emails and _has_email(blob)) or (
        cards and _may_hold_card(blob) and _CARD.search(blob) is not None)


def _redact(ev: Event, ctx: ParseContext) -> None:
    cards, emails, secret = ctx.redact_cards, ctx.redact_emails, ctx.redact_key
    if (cards or emails) and _sensitive(ev, cards, emails):
        ev.message = redact_text(ev.message, cards, emails, secret)
        if ev.error_message:
            ev.error_message = redact_text(ev.error_message, cards, emails, secret)
        if ev.error_stack_trace:
            ev.error_stack_trace = redact_text(ev.error_stack_trace, cards, emails, secret)
        for key, value in ev.labels.items():
            ev.labels[key] = redact_text(value, cards, emails, secret)
        ev.ids = [redact_text(i, cards, emails, secret) for i in ev.ids]
        if ev.message_id:  # set by a parser from one of the IDs (X12, EDIFACT)
            ev.message_id = redact_text(ev.message_id, cards, emails, secret)
        if ev.original:
            ev.original = redact_text(ev.original, cards, emails, secret)
    if ctx.redact_fields and ev.original:
        # A configured field is masked where the parser put it; in the source line it may be
        # written otherwise (JSON escapes, XML entities), so the line is not kept at all.
        ev.original = None
    for path in ctx.redact_fields:
        if path.startswith("labels."):
            key = path[len("labels."):]
            if key in ev.labels:
                ev.labels[key] = REDACTED
        elif path in _FIELD_SLOTS and getattr(ev, _FIELD_SLOTS[path]):
            setattr(ev, _FIELD_SLOTS[path], REDACTED)
        elif path == "midwatch.ids":
            # Tokens, not one mask: IDs are what joins messages, a mask would join them all.
            ev.ids = [_id_token(i, secret) for i in ev.ids]
            if ev.message_id is not None:
                ev.message_id = _id_token(ev.message_id, secret)


def _id_token(typed: str, key: bytes) -> str:
    kind, _, value = typed.partition(":")
    return f"{kind}:{token('redacted', value, key)}"


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


# A banner's frame: a line of only punctuation (``*****``, ``-----``), or a line framed by
# runs of it (``*** Publishers will be blocked until this alarm clears ***``).
_FRAMED = re.compile(r"([^\w\s])\1\1.*([^\w\s])\2\2")
_TEMPLATE_LINES = 50  # a record's meaningful line comes early; a long one is not scanned


def _is_decoration(line: str) -> bool:
    return not any(c.isalnum() for c in line) or _FRAMED.fullmatch(line) is not None


def _meaningful_line(text: str) -> str | None:
    for line in text.strip().split("\n", _TEMPLATE_LINES)[:_TEMPLATE_LINES]:
        if line.strip() and not _is_decoration(line.strip()):
            return line.lstrip()
    return None


def message_template(*texts: str | None) -> str:
    """The first meaningful line of the first text that has one, its variables masked.

    Brokers frame what matters in banners (RabbitMQ's memory alarm is its alarm line, then a
    box of asterisks): a template of the frame would give every alarm of every kind one
    signature, and show a row of asterisks where a person looks for the error. So frame lines
    are skipped, and a text made only of them (the parser took the box as the error message)
    gives way to the next text (the message, whose first line names the alarm). Texts are
    tried in order: error message, message, error type."""
    present = [t for t in texts if t]
    line = next((found for t in present if (found := _meaningful_line(t))), None)
    if line is None:  # nothing but frames: the first line as it is
        line = present[0].strip().split("\n", 1)[0] if present else ""
    return _masked(line[:1024])


@lru_cache(maxsize=4096)
def _masked(line: str) -> str:
    """A line with its variables masked. Cached like ``_best_class``: a recurring error
    repeats its text, and the masks are a dozen regex substitutions (tens of microseconds)."""
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
    if len(ids) == 2:  # the common case, told without a generator: two distinct typed IDs
        first, second = ids
        if first != second and first[-1:] not in ("", ":") and second[-1:] not in ("", ":"):
            return ids
    return list(dict.fromkeys(i for i in ids if i and not i.endswith(":")))


def _cut(text: str, limit: int, name: str, cut: list[str]) -> str:
    cut.append(name)
    return text[: limit - len(TRUNCATED)] + TRUNCATED


def _cut_id(text: str, name: str, cut: list[str]) -> str:
    if name not in cut:
        cut.append(name)
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
    mark = f"…[truncated {digest}]"
    return text[: MAX_ID - len(mark)] + mark


def _bound(ev: Event, cut: list[str]) -> None:
    """IDs, names and labels within their bounds (parsers copy them from the source as they
    come: a 100 kB ``service.name`` was stored whole, and is beyond what a keyword index
    takes). This runs for every event, so the common case is C-level ``join``s: all names
    and IDs together within the smaller bound means each is, and so for label keys and
    label values. Label keys are lower-cased here, the one place every parsed event passes
    (``collector.event.lower_keys``); keys already lower case cost one ``lower`` of their
    join (50-90 ns best of runs at load 6; ``islower`` took 270-310 ns: it looks each
    character up)."""
    if len("".join(filter(None, _bounded(ev)))) + len("".join(ev.ids)) > _SHORT:
        _bound_fields(ev, cut)
    labels = ev.labels
    keys = "".join(labels)
    if keys != keys.lower():  # a key not lower case (set by a plug-in parser)
        ev.labels = labels = lower_keys(labels)
    if ((len(keys) > MAX_LABEL_KEY and max(map(len, labels)) > MAX_LABEL_KEY)
            or (len("".join(labels.values())) > MAX_LABEL_VALUE
                and max(map(len, labels.values())) > MAX_LABEL_VALUE)):
        ev.labels = {(_cut(k, MAX_LABEL_KEY, "labels", cut) if len(k) > MAX_LABEL_KEY else k):
                     (_cut(v, MAX_LABEL_VALUE, "labels", cut) if len(v) > MAX_LABEL_VALUE else v)
                     for k, v in labels.items()}
    numbers = _numbers(ev)
    if numbers != _NO_NUMBERS:
        for slot, value in zip(_NUMBER_SLOTS, numbers, strict=True):
            if value is not None and not -_LONG <= value < _LONG:  # beyond a 64-bit field
                setattr(ev, slot, None)
                cut.append(slot)
    if cut:
        ev.labels[TRUNCATED_LABEL] = ",".join(dict.fromkeys(cut))


def _bound_fields(ev: Event, cut: list[str]) -> None:
    for slot in _NAME_SLOTS:
        value = getattr(ev, slot)
        if value is not None and len(value) > MAX_NAME:
            setattr(ev, slot, _cut(value, MAX_NAME, slot.replace("_", "."), cut))
    for slot in _ID_SLOTS:
        value = getattr(ev, slot)
        if value is not None and len(value) > MAX_ID:
            setattr(ev, slot, _cut_id(value, slot.replace("_", "."), cut))
    if any(len(i) > MAX_ID for i in ev.ids):
        ev.ids = [_cut_id(i, "midwatch.ids", cut) if len(i) > MAX_ID else i for i in ev.ids]


def normalize(ev: Event, ctx: ParseContext) -> Event:
    """Make a freshly parsed event uniform (in place) and return it."""
    if not ev.ingested_ms:
        ev.ingested_ms = ctx.now_ms
    ts = ev.timestamp_ms
    if ev.timestamp_estimated or not (type(ts) is int and ctx.time_min_ms <= ts <= ctx.time_max_ms):
        settle_time(ev, ctx)
    if ev.level not in LEVELS:
        ev.level = normalize_level(ev.level)
    if ev.outcome == "unknown" and ev.level in ("error", "fatal"):
        ev.outcome = "failure"
    if ev.action is None and ev.outcome == "failure":
        ev.action = "failed"
    cut: list[str] = []
    if len(ev.message) > MAX_MESSAGE:
        ev.message = _cut(ev.message, MAX_MESSAGE, "message", cut)
    if ev.error_stack_trace and len(ev.error_stack_trace) > MAX_STACK:
        ev.error_stack_trace = _cut(ev.error_stack_trace, MAX_STACK, "error.stack_trace", cut)
    if ev.error_message and len(ev.error_message) > MAX_MESSAGE:
        ev.error_message = _cut(ev.error_message, MAX_MESSAGE, "error.message", cut)
    if ev.original and len(ev.original) > MAX_ORIGINAL:
        ev.original = _cut(ev.original, MAX_ORIGINAL, "event.original", cut)
    if len(ev.ids) > 1:
        ev.ids = _dedupe(ev.ids)
    _redact(ev, ctx)
    _bound(ev, cut)
    if ev.message_id is None and ev.ids:
        ev.message_id = ev.ids[0]
    if _is_failure(ev) or ev.error_type or ev.error_code:
        classify(ev)
    return ev


def classify(ev: Event) -> None:
    """The error class of a failed event and the signature of one naming an error: the last
    step of ``normalize``, also called by the native fast path (``collector.native``) on the
    events it finishes, so that taxonomy stays defined here once."""
    if ev.error_class is None and _is_failure(ev):
        ev.error_class = classify_error(ev)
    if ev.signature is None:
        template = message_template(ev.error_message, ev.message, ev.error_type)
        ev.signature = signature(ev.platform, ev.error_type, template)
        ev.labels.setdefault("signature_template", template)
