"""HTTP edge of the explorer: which page a path is, who may see it, and the headers it needs.

``collector.api`` hands over every path that ``owns`` claims, so the explorer shares the API's
listener, TLS, timeouts and tokens. A browser cannot put a bearer token on a link, so the token
is entered once on ``/login`` and kept in a session cookie (HttpOnly, SameSite=Strict) that
stands in for the ``Authorization`` header on explorer pages only; it is checked with the same
``authorize`` and the same ``traces`` scope as ``/api/*``. Without tokens (loopback only) no
sign-in is asked, as for the API.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from importlib import resources

from collector.config import Api as ApiConfig
from collector.correlation.catalog import without_placeholders
from collector.event import PLATFORMS as PLATFORMS_ALL
from collector.explorer import queries, views
from collector.explorer.markup import Safe
from collector.httpserver import Handler, HttpError, authorize
from collector.store.base import Store, StoreError, TraceQuery
from collector.trace import STATUSES
from collector.tracequery import one_named, reconcile

log = logging.getLogger("midwatch.explorer")

COOKIE = "midwatch_token"
HTML = "text/html; charset=utf-8"
# Scripts and styles only from this server; no frames, no plugins, no form posts elsewhere.
# Inline style attributes stay allowed: the waterfall places bars with computed widths.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "DENY"}
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
LIST_PARAMS = ("flow", "status", "partner", "platform", "signature", "since", "until", "before",
               "q")
PLATFORMS = sorted(PLATFORMS_ALL - {"midwatch"})  # midwatch's own events join no journey
DEFAULT_RANGE = "1d"


def owns(path: str) -> bool:
    """Paths the explorer answers; everything else stays with the API."""
    return path in ("/", "/traces", "/flows", "/login") or path.startswith(
        ("/traces/", "/flows/", "/static/"))


def handle(handler: Handler, method: str, store: Store, cfg: ApiConfig) -> None:
    url = urllib.parse.urlsplit(handler.path)
    body = handler.read_body(cfg.max_body_bytes)
    if url.path == "/login":
        _login(handler, method, body, cfg)
        return
    if method not in ("GET", "HEAD"):
        raise HttpError(405, "use GET", {"Allow": "GET, HEAD"})
    if url.path.startswith("/static/"):
        _static(handler, url.path[len("/static/"):])
        return
    if cfg.tokens:
        token = _cookie_token(handler.headers.get("Cookie"))
        header = handler.headers.get("Authorization") or (f"Bearer {token}" if token else None)
        try:
            authorize(header, cfg.tokens, "traces")
        except HttpError as exc:
            problem = None if exc.status == 401 and header is None else str(exc)
            _send(handler, exc.status, views.login_page(_here(url), problem))
            return
    params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
    try:
        status, page = _page(store, url.path, params)
    except queries.BadQuery as exc:
        status, page = 400, views.message_page("Cannot read the filter", str(exc))
    except StoreError as exc:
        log.warning("store query failed", extra={"path": url.path, "error": str(exc)})
        status, page = 503, views.message_page("Store unavailable",
                                               "The store did not answer; retry in a moment.")
    if isinstance(page, str) and not isinstance(page, Safe):  # a redirect target
        _send(handler, 303, Safe(""), {"Location": page})
        return
    _send(handler, status, page)


def _here(url: urllib.parse.SplitResult) -> str:
    return url.path + (f"?{url.query}" if url.query else "")


def _send(handler: Handler, status: int, page: Safe, headers: dict[str, str] | None = None) -> None:
    handler.send(status, page.encode("utf-8"), HTML, {**SECURITY_HEADERS, **(headers or {})})


def _cookie_token(header: str | None) -> str | None:
    if not header:
        return None
    try:
        jar = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return urllib.parse.unquote(morsel.value) if morsel and morsel.value else None


def _login(handler: Handler, method: str, body: bytes, cfg: ApiConfig) -> None:
    """GET shows the form; POST checks the token and keeps it in a session cookie.

    The POST must come from a page of this server (its Origin, when sent, names this host):
    another site must not be able to sign a browser in with a token of its choosing.
    """
    if method in ("GET", "HEAD"):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query)
        _send(handler, 200, views.login_page(_safe_next(query.get("next", ["/"])[-1]), None))
        return
    if method != "POST":
        raise HttpError(405, "use GET or POST", {"Allow": "GET, HEAD, POST"})
    origin = handler.headers.get("Origin")
    scheme = "https" if cfg.tls_cert else "http"
    if origin is not None and origin != f"{scheme}://{handler.headers.get('Host', '')}":
        raise HttpError(403, "sign-in must come from this server's own page")
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    token = form.get("token", [""])[-1].strip()
    target = _safe_next(form.get("next", ["/"])[-1])
    if not cfg.tokens:
        _send(handler, 303, Safe(""), {"Location": target})
        return
    try:
        authorize(f"Bearer {token}", cfg.tokens, "traces")
    except HttpError as exc:
        _send(handler, exc.status, views.login_page(target, str(exc)))
        return
    secure = "; Secure" if cfg.tls_cert else ""
    cookie = (f"{COOKIE}={urllib.parse.quote(token, safe='')}; Path=/; HttpOnly; "
              f"SameSite=Strict{secure}")
    _send(handler, 303, Safe(""), {"Location": target, "Set-Cookie": cookie})


def _safe_next(target: str) -> str:
    """Only a path on this server: a link must not bounce a signed-in browser elsewhere."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _static(handler: Handler, name: str) -> None:
    suffix = name[name.rfind("."):] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES:
        raise HttpError(404, f"no such asset {name}")
    asset = resources.files("collector.explorer").joinpath("static", name)
    if not asset.is_file():
        raise HttpError(404, f"no such asset {name}")
    handler.send(200, asset.read_bytes(), STATIC_TYPES[suffix],
                 {"Cache-Control": "no-cache"})


# ------------------------------------------------------------------ pages

Answer = tuple[int, Safe | str]  # a str that is not Safe is a redirect target


def _page(store: Store, path: str, params: dict[str, str]) -> Answer:
    for prefix, view in _PREFIXES:
        if path.startswith(prefix) and len(path) > len(prefix):
            return view(store, urllib.parse.unquote(path[len(prefix):]), params)
    if path in ("/", "/traces"):
        return _traces(store, params)
    if path == "/flows":
        return _flows(store, params)
    raise HttpError(404, f"no such page {path}")


def _now() -> int:
    return int(time.time() * 1000)


def _traces(store: Store, params: dict[str, str]) -> Answer:
    unknown = set(params) - set(LIST_PARAMS)
    if unknown:
        raise queries.BadQuery(f"unknown filter {sorted(unknown)[0]!r}; "
                               f"expected {', '.join(LIST_PARAMS)}")
    if params.get("q", "").strip():
        return _trace(store, params["q"], params)
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise queries.BadQuery(f"status: expected one of {', '.join(STATUSES)}")
    now = _now()
    until = None
    if params.get("before"):
        if not params["before"].isdigit():
            raise queries.BadQuery("before: expected the epoch milliseconds of a page's end")
        until = int(params["before"])
    elif params.get("until"):
        until = queries.parse_time("until", params["until"], now)
    since = queries.parse_time("since", params["since"], now) if params.get("since") else None
    q = queries.ListQuery(flow=params.get("flow") or None, status=status,
                          partner=params.get("partner") or None,
                          platform=params.get("platform") or None,
                          signature=params.get("signature") or None,
                          since_ms=since, until_ms=until)
    page = queries.list_traces(store, q)
    flows = [name for name, _ in queries.flows(store, now - 30 * 86_400_000, now)]
    return 200, views.list_page(page, params, flows, PLATFORMS)


def _trace(store: Store, any_id: str, params: dict[str, str]) -> Answer:
    found = queries.find(store, any_id)
    t = one_named(any_id, found)
    if t is not None:
        if t.trace_key != any_id or "q" in params:  # one journey: its permalink is canonical
            return 200, views.trace_url(t.trace_key)
        return 200, views.trace_page(t, store.trace_events(without_placeholders(t)))
    return (404 if not found else 300), views.matches_page(any_id, found)


def _flow(store: Store, name: str, params: dict[str, str]) -> Answer:
    since_text = params.get("since") or DEFAULT_RANGE
    since = queries.parse_time("since", since_text, _now())
    recon = None
    if params.get("from") and params.get("to"):
        recon = reconcile(store, name, params["from"], params["to"], since)
    stuck = store.search_traces(TraceQuery(flow=name, status="stuck", limit=queries.PAGE_SIZE))
    return 200, views.flow_page(queries.funnel(store, name, since), since_text, stuck, recon)


def _flows(store: Store, params: dict[str, str]) -> Answer:
    since_text = params.get("since") or DEFAULT_RANGE
    now = _now()
    return 200, views.flows_page(queries.flows(store, queries.parse_time("since", since_text, now),
                                               now), since_text)


_PREFIXES: tuple[tuple[str, Callable[[Store, str, dict[str, str]], Answer]], ...] = (
    ("/traces/", _trace), ("/flows/", _flow))
