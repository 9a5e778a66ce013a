"""Fluent Bit's ``tail`` input: the line under ``log`` (its ``Key``, which a config may set to
``message``), the file under the ``Path_Key`` the config names (``file``, ``path`` or
``filepath`` by convention), and its time under ``date`` (the http, file and stdout outputs'
``json_date_key``) or ``@timestamp`` (the kafka and es outputs). Kubernetes' filter adds
``kubernetes.host``.

A Docker json-file line (``log``, ``stream``, ``time``) is not Fluent Bit's: it carries none
of the keys above and stays with the container envelopes. ``@timestamp`` alone does not make
a document Fluent Bit's (an application's JSON log may have it beside a ``log`` string): it
needs a numeric ``date``, the ``kubernetes`` metadata or a file path key.
"""

from __future__ import annotations

from collector.envelopes.shipped import Shipped, body, dig, text, when

_TIME_KEYS = ("date", "@timestamp")
_PATH_KEYS = ("file", "path", "filepath", "filePath")


def match(doc: dict) -> Shipped | None:
    line = body(doc.get("log"))
    if line is None:
        return None
    stamp = next((doc[k] for k in _TIME_KEYS if k in doc), None)
    path = next((text(doc.get(k)) for k in _PATH_KEYS if text(doc.get(k))), None)
    if not (isinstance(doc.get("date"), int | float) or isinstance(doc.get("kubernetes"), dict)
            or path is not None):
        return None
    host = text(doc.get("hostname")) or text(doc.get("host")) or text(
        dig(doc, "kubernetes.host"))
    return Shipped(line=line.removesuffix("\n"), shipper="fluent-bit", host=host, path=path,
                   created_ms=when(stamp))
