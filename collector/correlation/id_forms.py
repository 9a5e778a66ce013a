"""One ID, however a platform writes it: the forms a link ID also joins by.

Mule generates its correlation ID as a Java UUID (lower case, hyphenated) and sends it on as
``X-Correlation-ID``; the .NET service behind it logs the same value as ``Guid.ToString("N")``
(32 hex digits, no hyphens), braced (``"B"``, BizTalk's form) or upper case (SQL Server's
``uniqueidentifier``); a SOAP service writes it as a WS-Addressing MessageID, a URN
(``urn:uuid:<uuid>``, RFC 9562 section 4), which WCF and Axis2 log as such, while the REST
hop behind them logs the bare UUID. Compared as text, each form named another message, so the
hop joined no trace although it carried the message's ID. Hex digits are one number whatever their case
and hyphens, so the same kind of ID in any of these forms joins one trace: the lower-case
hyphenated form is added beside the one the source wrote (which ``midwatch trace`` still
finds). Only RFC 9562 UUIDs (version 1-8, variant 10xx) count, and W3C trace IDs
(``otel.trace``) never: their one form is 32 lower-case hex digits, and a second form on
every span's event would double what the stores index for nothing. Other IDs keep their
case: order numbers and IDs such as Salesforce's 15-character record IDs are case-sensitive.
"""

from __future__ import annotations

import string
from collections.abc import Callable

_HEX = frozenset(string.hexdigits)
_HYPHENS = (8, 13, 18, 23)  # where the hyphenated form has them
SINGLE_FORM_KINDS = frozenset({"otel.trace"})
# Platforms whose replies may carry their request's message ID as correlation ID: Spring
# AMQP's listener sets a reply's ``correlation_id`` to the request's ``correlation_id``, or,
# when it has none, to its ``message_id`` (JMS's ``JMSCorrelationID`` convention alike). The
# request then carried only ``amqp.msg:<id>`` and its reply ``correlation:<id>``: one value as
# two ID kinds, and the reply joined no trace. So each AMQP message's own ID is also indexed
# as a correlation ID, and not the other way: a correlation ID taken as a message ID gave two
# messages sharing a hard-coded correlation ID one message ID, which ``one_per_message``
# could no longer keep apart. (Added here, where events are correlated, so parse output
# stays what it was.)
REPLY_ALIASES = {"rabbitmq": {"amqp.msg": "correlation"}}
# ID kinds that name what another kind names: an app logs the X-Request-ID its gateway
# generated as ``requestId``/``request_id`` (typed ``request`` from the field name), while the
# gateways' parsers (Envoy, nginx, Kong, logged headers) type the same header ``http.request``:
# one value as two kinds, so the app's hop never joined the gateway's by it. Only values
# shaped like a generated ID (``GENERATED_ID_MIN`` characters or more: a UUID, nginx's 32-hex
# ``$request_id``) are aliased: an app's own counter (``requestId: 7``) would otherwise join
# every gateway line whose request ID happens to be 7.
KIND_ALIASES = {"request": "http.request"}
GENERATED_ID_MIN = 16
_ALIASES = {platform: {**KIND_ALIASES, **own} for platform, own in REPLY_ALIASES.items()}
_ALIASED = {platform: tuple(f"{kind}:" for kind in kinds) for platform, kinds in _ALIASES.items()}
_KIND_ALIASED = tuple(f"{kind}:" for kind in KIND_ALIASES)
_URN = "urn:uuid:"  # in any case
_UUID_LENGTHS = frozenset({32, 34, 36, 38, 36 + len(_URN)})  # plain, braced, hyphenated, URN


def canonical_uuid(value: str) -> str | None:
    """The lower-case hyphenated form of a UUID written in another form (upper case, plain,
    braced, a ``urn:uuid:`` URN); None when the value is no UUID or is in that form
    already."""
    n = len(value)
    if n not in _UUID_LENGTHS:
        return None
    if value[0] == "{" and value[-1] == "}":
        inner = value[1:-1]
    elif value[:len(_URN)].lower() == _URN:
        inner = value[len(_URN):]
    else:
        inner = value
    n = len(inner)
    if n == 36 and all(inner[i] == "-" for i in _HYPHENS):
        digits = inner.replace("-", "", 4)
    elif n == 32:
        digits = inner
    else:
        return None
    if len(digits) != 32 or not _HEX.issuperset(digits):
        return None
    digits = digits.lower()
    if digits[12] not in "12345678" or digits[16] not in "89ab":  # RFC 9562 version, variant
        return None
    canonical = "-".join((digits[:8], digits[8:12], digits[12:16], digits[16:20], digits[20:]))
    return None if canonical == value else canonical


def canonical_id(any_id: str) -> str | None:
    """An ID as asked for (bare, or typed ``kind:value``) with its UUID in the canonical form
    the correlator adds beside every other form; None when it holds no UUID in another form.
    An analyst pastes the braced upper-case GUID BizTalk shows of a message whose hops logged
    it in lower case: that form is on no trace, the canonical one is on its trace."""
    bare = canonical_uuid(any_id)
    if bare is not None:
        return bare
    kind, sep, value = any_id.partition(":")
    canonical = canonical_uuid(value) if sep and value and kind not in SINGLE_FORM_KINDS \
        else None
    return None if canonical is None else f"{kind}:{canonical}"


def with_canonical_forms(ids: list[str], platform: str = "",
                         is_link: Callable[[str], bool] | None = None) -> list[str]:
    """``ids`` plus the canonical form of each UUID written in another form, each ID under
    the kind it also names (``KIND_ALIASES``), and on an AMQP message its message ID as a
    correlation ID too (``REPLY_ALIASES``); the same list when there is none. ``is_link``:
    only IDs that join messages get forms (a label is only looked up as written, and its
    forms would take room in every ID limit). Runs for every event: an ID that can be none
    of these costs a find, a length and a prefix check."""
    added: list[str] = []
    aliases = _ALIASES.get(platform, KIND_ALIASES)
    aliased_prefixes = _ALIASED.get(platform, _KIND_ALIASED)
    for typed in ids:
        colon = typed.find(":")
        n = len(typed) - colon - 1
        aliased = typed.startswith(aliased_prefixes)
        if not aliased and (n not in _UUID_LENGTHS or (n == 36 and typed.islower())):
            continue  # no UUID, or one in canonical form already (the usual Java/.NET form)
        if is_link is not None and not is_link(typed):
            continue
        kind, value = typed[:colon], typed[colon + 1:]
        canonical = canonical_uuid(value) if kind not in SINGLE_FORM_KINDS else None
        if canonical is not None:
            form = f"{kind}:{canonical}"
            if form not in ids and form not in added:
                added.append(form)
        other = aliases.get(kind)
        if other is not None and (kind not in KIND_ALIASES or n >= GENERATED_ID_MIN):
            form = f"{other}:{canonical or value}"
            if form not in ids and form not in added:
                added.append(form)
    return ids + added if added else ids
