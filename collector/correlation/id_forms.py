"""One ID, however a platform writes it: the forms a link ID also joins by.

Mule generates its correlation ID as a Java UUID (lower case, hyphenated) and sends it on as
``X-Correlation-ID``; the .NET service behind it logs the same value as ``Guid.ToString("N")``
(32 hex digits, no hyphens), braced (``"B"``, BizTalk's form) or upper case (SQL Server's
``uniqueidentifier``). Compared as text, each form named another message, so the hop joined
no trace although it carried the message's ID. Hex digits are one number whatever their case
and hyphens, so the same kind of ID in any of these forms joins one trace: the lower-case
hyphenated form is added beside the one the source wrote (which ``midwatch trace`` still
finds). Only RFC 9562 UUIDs (version 1-8, variant 10xx) count, and W3C trace IDs
(``otel.trace``) never: their one form is 32 lower-case hex digits, and a second form on
every span's event would double what the stores index for nothing. Other IDs keep their
case: order numbers and IDs such as Salesforce's 15-character record IDs are case-sensitive.
"""

from __future__ import annotations

import string

_HEX = frozenset(string.hexdigits)
_HYPHENS = (8, 13, 18, 23)  # where the hyphenated form has them
SINGLE_FORM_KINDS = frozenset({"otel.trace"})
# Platforms whose replies may carry their request's message ID as correlation ID, with the
# kind of that message ID: Spring AMQP's listener sets a reply's ``correlation_id`` to the
# request's ``correlation_id``, or, when it has none, to its ``message_id`` (JMS's
# ``JMSCorrelationID`` convention alike). The request then carried only ``amqp.msg:<id>``
# and its reply ``correlation:<id>``: one value as two ID kinds, and the reply joined no
# trace. (Added here, where events are correlated, so parse output stays what it was.)
REPLY_ALIASES = {"rabbitmq": "amqp.msg"}
# ID kinds that name what another kind names: an app logs the X-Request-ID its gateway
# generated as ``requestId``/``request_id`` (typed ``request`` from the field name), while the
# gateways' parsers (Envoy, nginx, Kong, logged headers) type the same header ``http.request``:
# one value as two kinds, so the app's hop never joined the gateway's by it.
KIND_ALIASES = {"request": "http.request"}
_ALIASED = tuple(f"{kind}:" for kind in KIND_ALIASES)
_UUID_LENGTHS = frozenset({32, 34, 36, 38})  # plain, braced plain, hyphenated, braced


def canonical_uuid(value: str) -> str | None:
    """The lower-case hyphenated form of a UUID written in another form (upper case, plain,
    braced); None when the value is no UUID or is in that form already."""
    n = len(value)
    if n not in _UUID_LENGTHS:
        return None
    inner = value[1:-1] if value[0] == "{" and value[-1] == "}" else value
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


def with_canonical_forms(ids: list[str], platform: str = "") -> list[str]:
    """``ids`` plus the canonical form of each UUID written in another form, each ID under
    the kind it also names (``KIND_ALIASES``), and on an AMQP message its correlation ID as
    a message ID too (``REPLY_ALIASES``); the same list when there is none. Runs for every
    event: an ID that can be none of these costs a find, a length and a prefix check."""
    added: list[str] = []
    reply = REPLY_ALIASES.get(platform)
    for typed in ids:
        colon = typed.find(":")
        n = len(typed) - colon - 1
        aliased = typed.startswith(_ALIASED) or (reply is not None
                                                 and typed.startswith("correlation:"))
        if not aliased and (n not in _UUID_LENGTHS or (n == 36 and typed.islower())):
            continue  # no UUID, or one in canonical form already (the usual Java/.NET form)
        kind, value = typed[:colon], typed[colon + 1:]
        canonical = canonical_uuid(value) if kind not in SINGLE_FORM_KINDS else None
        if canonical is not None:
            form = f"{kind}:{canonical}"
            if form not in ids and form not in added:
                added.append(form)
        other = reply if kind == "correlation" else KIND_ALIASES.get(kind)
        if other is not None:
            form = f"{other}:{canonical or value}"
            if form not in ids and form not in added:
                added.append(form)
    return ids + added if added else ids
