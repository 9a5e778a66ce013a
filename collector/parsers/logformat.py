"""Access log format strings, compiled once to one regex: a site's own layout read as GoAccess
and Filebeat users describe it, by the format string their proxy writes with.

Four dialects, chosen by the input's ``format``:

- NGINX ``log_format`` (format ``apigw``, the string has ``$variables``):
  ``$remote_addr - $remote_user [$time_local] "$request" $status ...``.
- Apache ``LogFormat`` (format ``apigw``, ``%`` directives): ``%h %l %u %t "%r" %>s %b``.
- HAProxy ``log-format`` (format ``haproxy``): ``%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta
  %ST %B ... %{+Q}r``, sample fetches as ``%[capture.req.hdr(0)]``.
- Envoy format strings (format ``envoy``): ``[%START_TIME%] "%REQ(:METHOD)% ..."``.

The string may be pasted as written in the proxy's configuration: NGINX's quoted pieces
(``'$remote_addr - ' '"$request"'``) and Apache's surrounding quotes with ``\\"`` inside are
undone first. Each variable becomes a named group whose pattern follows from where it sits
(inside quotes: anything but an unescaped quote; inside brackets: anything but ``]``;
otherwise one run of non-blanks, or the variable's own shape for the few whose values hold
blanks: NGINX ``$time_local``, upstream lists ``0.010, 0.020``, HAProxy ``%T``). The line must
match as a whole, so a line of another layout is refused, never read field by field.

``read`` gives plain ``role -> text`` pairs (``time``, ``status``, ``request``, ``duration_ms``
...) with ``-`` and empty values left out; ``collector.parsers._request.access_event`` turns them
into an event. Request headers the format logs by name (``$http_x_correlation_id``,
``%{X-Request-ID}i``, ``%REQ(X-CORRELATION-ID)%``, ``%[req.hdr(x-correlation-id)]``) become
``header:<name>`` roles, typed IDs when the name says what they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

DIALECTS = ("nginx", "apache", "haproxy", "envoy")
# The parsers that read a log_format, and the dialect each reads.
FORMATS = ("apigw", "haproxy", "envoy")

_QUOTED = r'[^"\\]*(?:\\.[^"\\]*)*'


class LogFormatError(ValueError):
    """A format string that cannot be compiled; the message names the place and a fix."""


@dataclass(frozen=True, slots=True)
class LogFormat:
    dialect: str
    pattern: re.Pattern
    roles: tuple[tuple[str, str], ...]  # (regex group, role), in the order of the format

    def read(self, line: str) -> dict[str, str] | None:
        """``role -> value`` of a line written with this format, None for any other line."""
        m = self.pattern.fullmatch(line.rstrip("\r\n"))
        if m is None:
            return None
        values: dict[str, str] = {}
        for group, role in self.roles:
            value = m.group(group)
            if value not in (None, "", "-"):
                values.setdefault(role, value)
        return values


def dialect_for(fmt: str, text: str) -> str:
    """The dialect of ``text`` given as ``log_format`` of an input of format ``fmt``."""
    if fmt == "apigw":
        return "nginx" if "$" in text else "apache"
    if fmt in ("haproxy", "envoy"):
        return fmt
    raise LogFormatError(f"log_format is read by the formats {', '.join(FORMATS)}, not {fmt!r}; "
                         f"set format: apigw (NGINX, Apache), haproxy or envoy")


@lru_cache(maxsize=16)
def compile_format(text: str, dialect: str) -> LogFormat:
    """The compiled format (cached: inputs share a few strings and each line asks)."""
    body = _unquote(text.strip(), dialect)
    if body.lstrip().startswith("{"):
        raise LogFormatError("a JSON log format needs no log_format: JSON access lines are read "
                             "by their keys; remove log_format")
    tokens = _tokens(dialect, body)
    if not any(role for kind, role, _ in tokens if kind == "var"):
        raise LogFormatError(f"no variable in log_format {text!r}: expected "
                             f"{_EXAMPLES[dialect]}")
    return _build(dialect, tokens)


# --------------------------------------------------------------------------- tokenizers
# A token is ("lit", "", text) or ("var", role, shape); the role "" is a field that is
# matched and dropped, the shape is "" (by context) or a regex of the value's own form.
Token = tuple[str, str, str]

_CLF_TIME = r"\d{1,2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}(?:\.\d+)? [+-]\d{4}"
_LIST = r"\S+(?:(?:, | : )\S+)*"  # NGINX upstream_* values: one per upstream tried
_EXAMPLES = {
    "nginx": "'$remote_addr - $remote_user [$time_local] \"$request\" $status ...'",
    "apache": "an NGINX '$remote_addr - $remote_user [$time_local] ...' or an Apache "
              "'%h %l %u %t \"%r\" %>s %b'",
    "haproxy": "'%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B ... %{+Q}r'",
    "envoy": "'[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "
             "%RESPONSE_CODE% ...'",
}

_NGINX_ROLES = {
    "remote_addr": "client", "realip_remote_addr": "client", "remote_user": "user",
    "time_local": "time", "time_iso8601": "time", "msec": "time",
    "request": "request", "request_method": "method", "request_uri": "path", "uri": "path",
    "document_uri": "path", "status": "status", "body_bytes_sent": "bytes",
    "bytes_sent": "bytes", "request_time": "duration_s",
    "upstream_response_time": "upstream_s", "host": "vhost", "server_name": "vhost",
    "http_host": "vhost", "http_referer": "referer", "http_user_agent": "agent",
    "http_x_forwarded_for": "forwarded_for", "upstream_addr": "upstream_addr",
    "request_id": "request_id", "http_x_request_id": "request_id",
    "kong_request_id": "request_id", "http_traceparent": "traceparent",
    "request_length": "request_bytes", "bytes_received": "request_bytes",
    "session_time": "duration_s",
}
_NGINX_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _nginx(var: re.Match) -> list[Token]:
    name = var.group(1) or var.group(2)
    role = _NGINX_ROLES.get(name) or (f"header:{name[5:]}" if name.startswith("http_") else "")
    shape = (_CLF_TIME if name == "time_local" else
             _LIST if name.startswith("upstream_") else "")
    return [("var", role, shape)]


_APACHE_DIRECTIVE = re.compile(r"%[!\d,<>]*(?:\{([^}]*)\})?([a-zA-Z%])")
_APACHE_ROLES = {"h": "client", "a": "client", "u": "user", "r": "request", "s": "status",
                 "b": "bytes", "B": "bytes", "O": "bytes", "D": "duration_us",
                 "v": "vhost", "V": "vhost", "L": "request_id", "m": "method", "U": "path",
                 "I": "request_bytes"}
_APACHE_HEADERS = {"referer": "referer", "user-agent": "agent", "host": "vhost",
                   "x-forwarded-for": "forwarded_for", "x-request-id": "request_id",
                   "traceparent": "traceparent"}


def _apache(d: re.Match) -> list[Token]:
    arg, code = d.group(1), d.group(2)
    if code == "%":
        return [("lit", "", "%")]
    if code == "t":
        # "%t" is "[10/Oct/2000:13:55:36 -0700]", brackets included; "%{...}t" is the
        # owner's strftime layout, read by whatever timeparse recognizes.
        return ([("lit", "", "["), ("var", "time", ""), ("lit", "", "]")] if arg is None
                else [("var", "time", r".+?")])
    if code == "T":
        return [("var", {"ms": "duration_ms", "us": "duration_us"}.get(arg or "", "duration_s"),
                 "")]
    if code == "i" and arg:
        return [("var", _APACHE_HEADERS.get(arg.lower(), f"header:{arg.lower()}"), "")]
    if code == "e" and arg == "UNIQUE_ID":
        return [("var", "request_id", "")]
    return [("var", _APACHE_ROLES.get(code, ""), "")]


_HAPROXY_DIRECTIVE = re.compile(r"%(?:\{([^}]*)\})?(\[[^\]]*\]|[a-zA-Z]+)")
_HAPROXY_TIME = r"\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}(?:\.\d+)?(?: [+-]\d{4})?"
_HAPROXY_ROLES = {"ci": "client", "t": "time", "tr": "time", "trg": "time", "trl": "time",
                  "T": "time", "Tl": "time", "Ts": "time", "ft": "frontend", "f": "frontend",
                  "b": "backend", "s": "server", "Ta": "duration_ms", "Tt": "duration_ms",
                  "Tr": "upstream_ms", "ST": "status", "B": "bytes", "tsc": "termination_state",
                  "ts": "termination_state", "r": "request", "HM": "method", "HP": "path",
                  "HPO": "path", "HU": "path", "ID": "request_id", "hr": "captured_headers",
                  "U": "request_bytes", "CC": "", "CS": ""}


def _haproxy(d: re.Match) -> list[Token]:
    flags, name = d.group(1) or "", d.group(2)
    if name.startswith("["):
        role, shape = _sample_role(name[1:-1]), ""
    else:
        role = _HAPROXY_ROLES.get(name, "")
        shape = (_HAPROXY_TIME if role == "time" and name != "Ts" else
                 r"\{[^}]*\}" if name in ("hr", "hs") else
                 _QUOTED if "+Q" in flags else
                 r".+?" if name == "r" else "")
    quote: list[Token] = [("lit", "", '"')] if "+Q" in flags else []
    return [*quote, ("var", role, shape), *quote]


def _sample_role(expr: str) -> str:
    """``capture.req.hdr(0)``, ``req.hdr(host)``, ``hdr(x-correlation-id)``: a role from the
    header the fetch names; a captured slot by number is what people capture the host with."""
    arg = re.search(r"hdr\(([^),]*)", expr)
    name = arg.group(1).strip().lower() if arg else ""
    if name in ("host", "0") or expr.startswith("capture.req.hdr(0"):
        return "vhost"
    if name and not name.isdigit():
        return _APACHE_HEADERS.get(name, f"header:{name}")
    return ""


_ENVOY_DIRECTIVE = re.compile(r"%([A-Z_]+)(?:\(([^)]*)\))?(?::\d+)?%")
_ENVOY_ROLES = {"START_TIME": "time", "PROTOCOL": "", "RESPONSE_CODE": "status",
                "RESPONSE_FLAGS": "flags", "RESPONSE_CODE_DETAILS": "details",
                "BYTES_RECEIVED": "request_bytes", "BYTES_SENT": "bytes",
                "DURATION": "duration_ms", "UPSTREAM_HOST": "upstream_addr",
                "UPSTREAM_CLUSTER": "upstream_cluster", "ROUTE_NAME": "route",
                "DOWNSTREAM_REMOTE_ADDRESS": "client",
                "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": "client"}
_ENVOY_HEADERS = {":method": "method", ":path": "path", "x-envoy-original-path?:path": "path",
                  ":authority": "vhost", "user-agent": "agent",
                  "x-forwarded-for": "forwarded_for", "x-request-id": "request_id",
                  "traceparent": "traceparent", "x-envoy-upstream-service-time": "upstream_ms"}


def _envoy(d: re.Match) -> list[Token]:
    name, arg = d.group(1), (d.group(2) or "").lower()
    if name in ("REQ", "REQUEST_HEADER", "RESP", "RESPONSE_HEADER"):
        role = _ENVOY_HEADERS.get(arg, f"header:{arg}" if name.startswith("REQ") else "")
    else:
        role = _ENVOY_ROLES.get(name, "")
    return [("var", role, r".+?" if name == "START_TIME" and arg else "")]


# Per dialect: what a directive looks like, and the tokens one stands for.
_DIRECTIVES: dict[str, tuple[re.Pattern, Callable[[re.Match], list[Token]]]] = {
    "nginx": (_NGINX_VAR, _nginx), "apache": (_APACHE_DIRECTIVE, _apache),
    "haproxy": (_HAPROXY_DIRECTIVE, _haproxy), "envoy": (_ENVOY_DIRECTIVE, _envoy)}


def _tokens(dialect: str, body: str) -> list[Token]:
    """The format as literals and variables, in order."""
    rx, directive = _DIRECTIVES[dialect]
    tokens: list[Token] = []
    at = 0
    for m in rx.finditer(body):
        if m.start() > at:
            tokens.append(("lit", "", body[at:m.start()]))
        tokens.extend(directive(m))
        at = m.end()
    if at < len(body):
        tokens.append(("lit", "", body[at:]))
    return tokens


# --------------------------------------------------------------------------- building

def _build(dialect: str, tokens: list[Token]) -> LogFormat:
    merged: list[Token] = []
    for token in tokens:  # adjacent literals as one, so the context of a variable is known
        if token[0] == "lit" and merged and merged[-1][0] == "lit":
            merged[-1] = ("lit", "", merged[-1][2] + token[2])
        else:
            merged.append(token)
    parts, roles = [], []
    for i, (kind, role, shape) in enumerate(merged):
        if kind == "var" and i and merged[i - 1][0] == "var":
            raise LogFormatError("two variables with nothing between them cannot be told apart "
                                 "in a line; the proxy's format must separate them (a blank, a "
                                 "quote, a bracket)")
        if kind == "lit":
            parts.append(r"\s+".join(re.escape(w) for w in re.split(r"\s+", shape)))
            continue
        before = merged[i - 1][2] if i and merged[i - 1][0] == "lit" else ""
        after = merged[i + 1][2] if i + 1 < len(merged) and merged[i + 1][0] == "lit" else ""
        group = f"v{i}"
        parts.append(f"(?P<{group}>{shape or _by_context(before, after)})")
        if role:
            roles.append((group, role))
    try:
        pattern = re.compile("".join(parts) + r"\s*")
    except re.error as exc:  # a shape meeting an odd literal; name it rather than crash
        raise LogFormatError(f"log_format cannot be compiled: {exc}") from None
    return LogFormat(dialect=dialect, pattern=pattern, roles=tuple(roles))


def _by_context(before: str, after: str) -> str:
    if before.endswith('"') and after.startswith('"'):
        return _QUOTED
    if before.endswith("[") and after.startswith("]"):
        return r"[^\]]*"
    if after[:1] in ("", " ", "\t"):
        return r"\S*"
    return r"\S*?"


def _unquote(text: str, dialect: str) -> str:
    """The format as the proxy sees it: NGINX's concatenated quoted pieces joined, a string in
    double quotes (Apache, HAProxy, YAML that kept them) unescaped."""
    if dialect == "nginx" and text[:1] in ("'", '"'):
        pieces = re.findall(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", text)
        if pieces:
            return "".join(single or double for single, double in pieces).replace("\\'", "'") \
                .replace('\\"', '"')
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"')
    return text.replace('\\"', '"')
