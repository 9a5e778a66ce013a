"""How a notifier reaches its receiver: an HTTP(S) proxy and the CA file for TLS.

Every HTTP notifier (PagerDuty, Opsgenie, Slack, webhook, Alertmanager) takes ``proxy`` and
``ca_file``. Without ``proxy`` the environment decides, as curl and requests do:
``HTTPS_PROXY`` / ``HTTP_PROXY`` by the URL's scheme, skipped for hosts in ``NO_PROXY``.
Corporate networks often reach PagerDuty only through a proxy that re-signs TLS with an
in-house CA: both must be settable per notifier.
"""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from collector.config_values import Section
from collector.yamlconf import make_secret

KEYS = ("proxy", "ca_file")


@dataclass(frozen=True, slots=True)
class Transport:
    proxy: str | None = None
    ca_file: str | None = None

    def shown(self) -> dict[str, str | None]:
        """For listings: the proxy without its password."""
        return {"proxy": _without_password(self.proxy), "ca_file": self.ca_file}

    def __repr__(self) -> str:
        return f"Transport({self.shown()})"


DIRECT = Transport()


def parse(s: Section) -> Transport:
    proxy = s.text("proxy")
    if proxy is not None and not proxy.startswith(("http://", "https://")):
        raise s.error("proxy", f"expected an http(s) proxy URL, got {_without_password(proxy)!r}",
                      "e.g. http://proxy.example.com:3128")
    password = urllib.parse.urlsplit(proxy).password if proxy else None
    if password:
        if (*s.path, "proxy") not in s.doc.from_env:
            raise s.error("proxy", "a proxy password must not be written in YAML",
                          "proxy: ${NOTIFY_PROXY_URL}")
        make_secret(password, f"env:{'.'.join(map(str, (*s.path, 'proxy')))}")  # masked
    ca_file = s.text("ca_file")
    if ca_file is not None and not Path(ca_file).is_file():
        raise s.error("ca_file", f"{ca_file} is not a readable file",
                      "the PEM file of the CA that signed the receiver's certificate")
    return Transport(proxy, ca_file)


def proxy_for(url: str, configured: str | None,
              environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy to reach ``url`` through: the configured one, else the environment's."""
    if configured:
        return configured
    env = os.environ if environ is None else environ
    proxies = {k.lower()[:-6]: v for k, v in env.items()
               if k.lower() in ("http_proxy", "https_proxy", "no_proxy") and v}
    parts = urllib.parse.urlsplit(url)
    proxy = proxies.get(parts.scheme)
    if not proxy:
        return None
    if "no" in proxies and urllib.request.proxy_bypass_environment(parts.hostname or "",
                                                                   proxies):
        return None
    return proxy


def _without_password(url: str | None) -> str | None:
    if not url:
        return url
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    return urllib.parse.urlunsplit(parts._replace(
        netloc=f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")))
